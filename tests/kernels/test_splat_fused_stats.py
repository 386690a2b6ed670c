"""Densification statistics added in the fused preprocess's backward (issue 9: no launch of their own) against
`reference.add_stats` on the same means2d gradient, and through `render_gaussians` on every render path
against the after-backward `strategy.accumulate`."""

import dataclasses

import pytest
import torch

from ngfx.kernels.splat.fused import preprocess_gaussians, preprocess_gaussians_4d
from ngfx.kernels.splat.fused import reference as ref
from tests.helpers import assert_close
from tests.kernels.test_splat_fused import INTRINSICS, H, W, camera, gaussians, gaussians_4d


def prefilled(n: int, dtype) -> torch.Tensor:
    """Statistics from earlier views: sums, counts, and max radii of 0 or 100 px (above any radius here)."""
    g = torch.Generator().manual_seed(11)
    stats = torch.rand((4, n), generator=g, dtype=torch.float64).to(dtype)
    stats[2] = torch.randint(0, 4, (n,), generator=g).to(dtype)
    stats[3] = 100.0 * (torch.arange(n) % 2)
    return stats


def check(out, stats, scale, before, dtype):
    """Backward with a random cotangent; the kernel's statistics = add_stats on the rows' gradient."""
    cot = torch.randn(out.rows.shape, generator=torch.Generator().manual_seed(5), dtype=dtype)
    out.rows.register_hook(lambda g: grads.append(g.clone()))
    grads = []
    (out.rows * cot).sum().backward()
    expect = before.clone()
    ref.add_stats(expect, grads[0][:, 0:2], out.radii, W, H, scale)
    visible = (out.radii > 0).all(1)
    assert 4 <= int(visible.sum()) < out.radii.shape[0], visible
    assert torch.equal(stats[1], before[1])  # grad_t: not the kernel's
    assert torch.equal(stats[:, ~visible], before[:, ~visible])  # culled rows: untouched
    assert torch.equal(stats[2], before[2] + visible.to(dtype))
    big = before[3] == 100  # both sides of the running max
    assert (stats[3][visible & big] == 100).all() and (stats[3][visible & ~big] > 0).all()
    assert (visible & big).any() and (visible & ~big).any()
    assert float((stats[0] - before[0]).abs().max()) > 1e-3  # gradients arrived
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    assert_close(stats, expect, **tol)


@pytest.mark.parametrize("dtype,scale", [(torch.float64, 1.0), (torch.float32, 2.5)])
def test_3d_statistics_match_add_stats(cpu_arch, dtype, scale):
    params = [x.requires_grad_() for x in gaussians(7, 24, 15, dtype)]
    before = prefilled(24, dtype)
    stats = before.clone()
    out = preprocess_gaussians(*params, camera(), INTRINSICS, W, H, degree=3, stats=stats, stats_scale=scale)
    check(out, stats, scale, before, dtype)


def test_4d_statistics_match_add_stats(cpu_arch):
    params = [x.requires_grad_() for x in gaussians_4d(3, 24, 3)]
    before = prefilled(24, torch.float64)
    stats = before.clone()
    out = preprocess_gaussians_4d(*params, 0.4, camera(), INTRINSICS, W, H, rotation="dualquat", degree=1,
                                  stats=stats, stats_scale=2.0)
    check(out, stats, 2.0, before, torch.float64)


def test_reference_adds_the_same(cpu_arch):
    params = [x.requires_grad_() for x in gaussians(7, 24, 15)]
    stats = prefilled(24, torch.float64)
    out = ref.preprocess_gaussians(*params, camera(), INTRINSICS, W, H, degree=3, stats=stats, stats_scale=1.5)
    check(out, stats, 1.5, prefilled(24, torch.float64), torch.float64)


def test_without_stats_nothing_is_added_and_bad_buffers_are_refused(cpu_arch):
    params = gaussians(7, 24, 15, torch.float32)
    out = preprocess_gaussians(*[x.requires_grad_() for x in params], camera(), INTRINSICS, W, H, degree=3)
    out.rows.sum().backward()  # the dummy buffer path
    for bad, why in [(torch.zeros((4, 23)), "shape"), (torch.zeros((4, 24), dtype=torch.float64), "dtype"),
                     (torch.zeros((24, 4)).t(), "contiguous")]:
        with pytest.raises(ValueError, match=r"stats must be a contiguous \[4, 24\]"):
            preprocess_gaussians(*params, camera(), INTRINSICS, W, H, degree=3, stats=bad)
    with pytest.raises(ValueError, match="stats_scale"):
        preprocess_gaussians(*params, camera(), INTRINSICS, W, H, degree=3, stats=torch.zeros((4, 24)),
                             stats_scale=0.0)


def _render_stats(model, cam, **kw):
    """(statistics added by render_gaussians(stats=...), the same by strategy.accumulate after backward)."""
    from ngfx.splatting.render import render_gaussians
    from ngfx.splatting.strategy import accumulate, init_state, read_grad_means2d, retain_grad_means2d

    n = model.num_gaussians
    stats = init_state(n, dtype=torch.float64)
    out = render_gaussians(model, cam, stats=stats.values, stats_scale=2.0, **kw)
    cot = torch.randn(out.rgb.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    retain_grad_means2d(out.means2d)
    (out.rgb * cot).sum().backward()
    expect = accumulate(init_state(n, dtype=torch.float64), read_grad_means2d(out.means2d) * 2.0, out.radii,
                        cam.width, cam.height)
    assert int(stats.count.sum()) > 10
    return stats.values, expect.values


@pytest.mark.parametrize("ops", ["kernels", "reference"])
def test_render_paths_add_what_accumulate_adds(cpu_arch, ops):
    from ngfx.splatting.synthetic import orbiting_gaussians, shell_gaussians
    from tests.render.test_gaussian_scene import front_camera

    static = shell_gaussians(120, sh_degree=2, dtype=torch.float64).requires_grad_()
    base = orbiting_gaussians(120, dtype=torch.float64)
    temporal_sh = dataclasses.replace(base, sh_rest=0.3 * torch.randn(120, 1, 3, dtype=torch.float64),
                                      sh_degree_t=1).requires_grad_()  # the separate-op path
    for model, kw in [(static, {}), (base.requires_grad_(), {"time": 0.6}), (temporal_sh, {"time": 0.6})]:
        got, expect = _render_stats(model, front_camera(), ops=ops, **kw)
        assert_close(got, expect, rtol=1e-12, atol=1e-12, msg=f"{ops} {kw}")
