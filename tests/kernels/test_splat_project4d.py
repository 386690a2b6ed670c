"""Fused 4D slice + projection against its reference (the slice4d and project references composed)."""

import math

import numpy as np
import pytest
import torch

from ngfx.kernels import runtime
from ngfx.kernels.splat.project4d import project_gaussians_4d
from ngfx.kernels.splat.project4d import reference as ref
from ngfx.kernels.splat.slice4d import reference as slice_ref
from tests.helpers import assert_close

W, H = 16, 12
INTRINSICS = (14.0, 13.0, 7.5, 6.2)
TIME = 0.4


def camera():
    """A camera at (0.2, -0.1, -3) looking roughly down +z, slightly rotated."""
    c, s = math.cos(0.2), math.sin(0.2)
    T = np.eye(4)
    T[:3, :3] = [[c, 0, s], [0, 1, 0], [-s, 0, c]]
    T[:3, 3] = [0.2, -0.1, 3.0]
    return torch.as_tensor(T)


def gaussians(seed: int, n: int, rotation: str, dtype=torch.float64):
    """Random 4D Gaussians near the view: some culled in time, some behind the camera, some off-image."""
    g = torch.Generator().manual_seed(seed)
    means4 = torch.cat([torch.randn(n, 3, generator=g, dtype=torch.float64),
                        TIME + 0.5 * torch.randn(n, 1, generator=g, dtype=torch.float64)], 1)
    means4[0, 2] = -5.0  # behind the camera
    means4[1, 3] = TIME + 5.0  # culled in time
    means4[2, :2] = torch.tensor([9.0, 0.0])  # off-image
    log_scales4 = torch.randn(n, 4, generator=g, dtype=torch.float64) * 0.3 - 1.2
    log_scales4[:, 3] += 0.8
    rotations = torch.randn(n, 8, generator=g, dtype=torch.float64)
    opacities = torch.rand(n, generator=g, dtype=torch.float64) * 0.9 + 0.05
    return [x.to(dtype) for x in (means4, log_scales4, rotations, opacities)]


def outputs(p):
    q = p.projection
    return [q.means2d, q.conics, q.depths, q.opacities, p.means3d]


def run(fn, inputs, rotation, **kw):
    dev = runtime.device()
    return fn(*(x.to(dev) for x in inputs), TIME, camera(), INTRINSICS, W, H, rotation=rotation, **kw)


@pytest.mark.parametrize("rotation", ["dualquat", "rotor"])
@pytest.mark.parametrize("seed", [0, 1])
def test_forward_and_backward_match_reference(cpu_arch, seed, rotation):
    inputs = gaussians(seed, 20, rotation)
    inputs = [x.requires_grad_() for x in inputs]
    out, exp = run(project_gaussians_4d, inputs, rotation), run(ref.project_gaussians_4d, inputs, rotation)
    assert torch.equal(out.projection.radii, exp.projection.radii), f"seed {seed}"
    visible = out.visible
    assert 3 <= int(visible.sum()) < 20 and not visible[:3].any(), f"seed {seed}: {visible}"
    for name, a, b in zip(("means2d", "conics", "depths", "opacities", "means3d"), outputs(out), outputs(exp)):
        assert_close(a, b, rtol=1e-10, atol=1e-12, msg=f"seed {seed} {name}")
    g = torch.Generator().manual_seed(100 + seed)
    cots = [torch.randn(x.shape, generator=g, dtype=x.dtype) for x in outputs(out)]
    grads = torch.autograd.grad(sum((x * c).sum() for x, c in zip(outputs(out), cots)), inputs)
    expect = torch.autograd.grad(sum((x * c).sum() for x, c in zip(outputs(exp), cots)), inputs)
    for name, a, b in zip(("means4", "log_scales4", "rotations", "opacities"), grads, expect):
        assert float(b.abs().max()) > 0, name
        assert_close(a, b, rtol=1e-8, atol=1e-10, msg=f"seed {seed} grad {name}")


def test_float32_matches_and_antialiased(cpu_arch):
    inputs = gaussians(3, 20, "dualquat", torch.float32)
    for aa in (False, True):
        out = run(project_gaussians_4d, inputs, "dualquat", antialiased=aa)
        exp = run(ref.project_gaussians_4d, [x.double() for x in inputs], "dualquat", antialiased=aa)
        assert torch.equal(out.projection.radii, exp.projection.radii)
        for a, b in zip(outputs(out), outputs(exp)):
            assert_close(a.double(), b, rtol=1e-4, atol=1e-4, msg=f"antialiased={aa}")


def test_gradcheck_f64(cpu_arch):
    inputs = [x.requires_grad_() for x in gaussians(5, 8, "rotor")]

    def fn(*xs):
        return tuple(outputs(run(project_gaussians_4d, xs, "rotor")))

    assert int(run(project_gaussians_4d, inputs, "rotor").visible.sum()) >= 2
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5)


def test_matches_slice_then_project_at_time_mean(cpu_arch):
    """At t = mu_t with a rotation that keeps t apart, the 4D Gaussian projects as its spatial 3D block."""
    from ngfx.kernels.splat.project import project_gaussians

    g = torch.Generator().manual_seed(7)
    n = 10
    quats = torch.randn(n, 4, generator=g, dtype=torch.float64)
    means = torch.randn(n, 3, generator=g, dtype=torch.float64) * 0.5
    log_scales = torch.randn(n, 3, generator=g, dtype=torch.float64) * 0.3 - 1.5
    opac = torch.full((n,), 0.8, dtype=torch.float64)
    means4 = torch.cat([means, torch.full((n, 1), TIME, dtype=torch.float64)], 1)
    log_scales4 = torch.cat([log_scales, torch.zeros(n, 1, dtype=torch.float64)], 1)
    out = run(project_gaussians_4d, [means4, log_scales4, slice_ref.quat_to_dualquat(quats), opac], "dualquat")
    exp = project_gaussians(means, log_scales, quats, opac, camera(), INTRINSICS, W, H)
    assert int(out.visible.sum()) >= 5
    assert_close(out.projection.means2d, exp.means2d, rtol=1e-10, atol=1e-10)
    assert_close(out.projection.conics, exp.conics, rtol=1e-8, atol=1e-10)
    assert_close(out.projection.opacities, exp.opacities, rtol=1e-10, atol=1e-12)
