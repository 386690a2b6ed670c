"""Fused render preprocess (project + SH in one kernel) against its reference (the separate references)."""

import math

import numpy as np
import pytest
import torch

from ngfx.kernels.splat.fused import preprocess_gaussians
from ngfx.kernels.splat.fused import reference as ref
from tests.helpers import assert_close

W, H = 20, 14
INTRINSICS = (18.0, 17.0, 9.7, 7.1)


def camera():
    c, s = math.cos(0.3), math.sin(0.3)
    T = np.eye(4)
    T[:3, :3] = [[c, 0, -s], [0, 1, 0], [s, 0, c]]
    T[:3, 3] = [0.1, 0.2, 3.0]
    return torch.as_tensor(T)


def gaussians(seed: int, n: int, n_rest: int, dtype=torch.float64):
    """Random Gaussians in view, with one behind the camera, one off-image and one nearly transparent."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    means = r(n, 3) * 0.8
    means[0, 2], means[1, 0], = -6.0, 12.0
    logits = r(n) + 1.0
    logits[2] = -9.0  # opacity below 1/255: culled
    params = [means, r(n, 3) * 0.3 - 1.6, r(n, 4), logits, r(n, 1, 3) * 0.8, r(n, n_rest, 3) * 0.3]
    return [x.to(dtype) for x in params]


def run(fn, params, degree, **kw):
    return fn(*params, camera(), INTRINSICS, W, H, degree=degree, **kw)


@pytest.mark.parametrize("degree,n_rest", [(3, 15), (1, 15), (0, 0), (2, 8)])
def test_forward_backward_match_reference(cpu_arch, degree, n_rest):
    params = [x.requires_grad_() for x in gaussians(degree, 24, n_rest)]
    out, exp = run(preprocess_gaussians, params, degree), run(ref.preprocess_gaussians, params, degree)
    assert torch.equal(out.radii, exp.radii)
    visible = (out.radii > 0).any(1)
    assert 5 <= int(visible.sum()) < 24 and not visible[:3].any(), visible
    assert_close(out.rows, exp.rows, rtol=1e-10, atol=1e-12, msg=f"degree {degree}")
    assert float(out.rows.detach()[visible, 6:9].abs().max()) > 0.1  # colours are not empty
    from ngfx.kernels.splat.tiles import map_to_tiles  # the kernel's tile rectangles = the counting pass's

    with_rects = map_to_tiles(out.means2d, out.radii, out.depths, W, H, rects=out.rects)
    counted = map_to_tiles(out.means2d, out.radii, out.depths, W, H)
    assert with_rects.n_intersections == counted.n_intersections > 0
    assert torch.equal(with_rects.point_ids, counted.point_ids)
    assert torch.equal(with_rects.tile_ranges, counted.tile_ranges)
    cot = torch.randn(out.rows.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    names = ("means", "log_scales", "quats", "opacity_logits", "sh_dc", "sh_rest")
    grads = torch.autograd.grad((out.rows * cot).sum(), params, allow_unused=True)
    expect = torch.autograd.grad((exp.rows * cot).sum(), params, allow_unused=True)
    for name, a, b in zip(names, grads, expect):
        if b is None:
            assert a is None or float(a.abs().max()) == 0, name
            continue
        assert_close(a, b, rtol=1e-8, atol=1e-10, msg=f"degree {degree} grad {name}")
    if n_rest > (degree + 1) ** 2 - 1:  # bands above `degree` are ignored: zero gradient
        assert float(grads[5][:, (degree + 1) ** 2 - 1:].abs().max()) == 0


def test_float32_and_antialiased(cpu_arch):
    params = gaussians(4, 24, 15, torch.float32)
    for aa in (False, True):
        out = run(preprocess_gaussians, params, 3, antialiased=aa)
        exp = run(ref.preprocess_gaussians, [x.double() for x in params], 3, antialiased=aa)
        assert torch.equal(out.radii, exp.radii)
        assert_close(out.rows.double(), exp.rows, rtol=1e-4, atol=1e-4, msg=f"antialiased {aa}")


def test_gradcheck_f64(cpu_arch):
    params = [x.requires_grad_() for x in gaussians(5, 8, 3)]
    assert int((run(preprocess_gaussians, params, 1).radii > 0).any(1).sum()) >= 2
    assert torch.autograd.gradcheck(lambda *p: run(preprocess_gaussians, p, 1).rows, params, eps=1e-6, atol=1e-5)


def gaussians_4d(seed: int, n: int, n_rest: int):
    """xyzt Gaussians around t = 0.4: some culled in time, one behind the camera."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    means4 = torch.cat([r(n, 3) * 0.8, 0.4 + 0.4 * r(n, 1)], 1)
    means4[0, 2], means4[1, 3] = -6.0, 9.0
    log_scales4 = r(n, 4) * 0.3 - 1.4
    log_scales4[:, 3] += 0.8
    return [means4, log_scales4, r(n, 8), r(n) + 1.0, r(n, 1, 3) * 0.8, r(n, n_rest, 3) * 0.3]


@pytest.mark.parametrize("rotation", ["dualquat", "rotor"])
def test_4d_forward_backward_match_reference(cpu_arch, rotation):
    from ngfx.kernels.splat.fused import preprocess_gaussians_4d

    params = [x.requires_grad_() for x in gaussians_4d(3, 24, 3)]
    kw = dict(rotation=rotation, degree=1)
    out = preprocess_gaussians_4d(*params, 0.4, camera(), INTRINSICS, W, H, **kw)
    exp = ref.preprocess_gaussians_4d(*params, 0.4, camera(), INTRINSICS, W, H, **kw)
    assert torch.equal(out.radii, exp.radii)
    visible = (out.radii > 0).any(1)
    assert 4 <= int(visible.sum()) < 24 and not visible[:2].any(), visible
    assert_close(out.rows, exp.rows, rtol=1e-10, atol=1e-12, msg=rotation)
    cot = torch.randn(out.rows.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    grads = torch.autograd.grad((out.rows * cot).sum(), params)
    expect = torch.autograd.grad((exp.rows * cot).sum(), params)
    for i, (a, b) in enumerate(zip(grads, expect)):
        assert float(b.abs().max()) > 0, i
        assert_close(a, b, rtol=1e-8, atol=1e-10, msg=f"{rotation} grad {i}")


def test_forward_on_every_backend(arch):
    """float32 forward on cpu / vulkan (lavapipe) / cuda: the renderer takes this path on every backend."""
    from ngfx.kernels import runtime

    params = gaussians(6, 24, 15, torch.float32)
    dev = runtime.device()
    out = run(preprocess_gaussians, [x.to(dev) for x in params], 2)
    exp = run(ref.preprocess_gaussians, [x.double() for x in params], 2)
    assert torch.equal(out.radii.cpu(), exp.radii)
    assert int((exp.radii > 0).any(1).sum()) >= 5
    assert_close(out.rows.cpu().double(), exp.rows, rtol=1e-4, atol=1e-4, msg=arch)
