"""Densification strategy: clone / split / prune choices, split sampling (3D and 4D), schedule, opacity reset,
statistics accumulation, the RowPlan contract and Duan's time-gradient rule."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from ngfx.kernels.splat.project.reference import quat_to_rotmat
from ngfx.kernels.splat.slice4d.reference import rotation_matrix_4d
from ngfx.scenes.camera import Camera, intrinsics_from_fov
from ngfx.splatting.render import render_gaussians
from ngfx.splatting.strategy import (
    DensifyConfig,
    DensifyState,
    RowPlan,
    accumulate,
    densify,
    init_state,
    read_grad_means2d,
    reset_opacity,
    retain_grad_means2d,
)
from ngfx.splatting.synthetic import orbiting_gaussians, shell_gaussians
from tests.helpers import assert_close
from tests.splatting import random_gaussians_3d, random_gaussians_4d

CFG = DensifyConfig()
EXTENT = 2.0
SMALL, LARGE = math.log(0.005 * EXTENT), math.log(0.05 * EXTENT)  # below / above the clone limit 0.01 extent


def _model(log_scale_rows, *, opacity=0.5, four_d=False, rotation="dualquat", sh_degree=1):
    """Gaussians with the given per-row log scales (3 or 4 columns) and one opacity."""
    scales = torch.tensor(log_scale_rows, dtype=torch.float32)
    n = scales.shape[0]
    if four_d:
        model = random_gaussians_4d(n, sh_degree, rotation=rotation)
    else:
        model = random_gaussians_3d(n, sh_degree)
    logit = math.log(opacity / (1 - opacity))
    return dataclasses.replace(model, log_scales=scales, opacity_logits=torch.full((n,), logit))


def _state(grad2d, *, grad_t=None, count=None, radii=None):
    grad2d = torch.as_tensor(grad2d, dtype=torch.float32)
    n = grad2d.shape[0]

    def fill(v, default):
        return torch.full((n,), float(default)) if v is None else torch.as_tensor(v, dtype=torch.float32)

    return DensifyState.of(grad2d=grad2d, grad_t=fill(grad_t, 0), count=fill(count, 1), max_radii=fill(radii, 5))


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_clone_small_split_large():
    model = _model([[SMALL] * 3, [LARGE, SMALL, SMALL], [SMALL] * 3, [LARGE] * 3])
    hot = 1e-3
    new, plan = densify(model, _state([hot, hot, 0.0, 0.0]), CFG, 600, EXTENT, generator=_gen())
    # row 0 cloned, row 1 split (removed, 2 children), rows 2, 3 below the threshold stay
    assert plan.keep.tolist() == [0, 2, 3] and plan.n_new == 3 and new.num_gaussians == 6
    for name, p in model.parameter_dict().items():
        q = getattr(new, name)
        assert torch.equal(q[:3], p[[0, 2, 3]]) and torch.equal(q[3], p[0]), name  # kept, then the clone
        if name not in ("means", "log_scales"):
            assert torch.equal(q[4:], p[[1, 1]]), name
    assert_close(new.log_scales[4:], (model.log_scales[1] - math.log(1.6)).expand(2, 3))
    assert not torch.equal(new.means[4], new.means[5])


@pytest.mark.parametrize("four_d, rotation", [(False, None), (True, "dualquat"), (True, "rotor")])
def test_split_samples_follow_parent_gaussian(four_d, rotation):
    d, n = (4, 3000) if four_d else (3, 3000)
    log_scales = [math.log(0.3), math.log(0.1), math.log(0.05), math.log(0.2)][:d]
    model = _model([log_scales] * n, four_d=four_d, rotation=rotation or "dualquat")
    parent = model.select(torch.zeros(n, dtype=torch.long))  # n copies of row 0 (its random rotation)
    new, plan = densify(parent, _state([1.0] * n), CFG, 600, EXTENT, generator=_gen())
    assert plan.keep.numel() == 0 and plan.n_new == 2 * n
    mean_name = "means4" if four_d else "means"
    samples = getattr(new, mean_name).double()
    mu = getattr(parent, mean_name)[0].double()
    rot = rotation_matrix_4d(parent.rotations, rotation) if four_d else quat_to_rotmat(parent.quats)
    rot = rot[0]
    rs = rot.double() * torch.tensor(log_scales, dtype=torch.float64).exp()
    cov = rs @ rs.T
    sigma = cov.diagonal().sqrt()
    assert ((samples.mean(0) - mu).abs() < 4 * sigma / math.sqrt(2 * n)).all(), (samples.mean(0), mu)
    assert_close(torch.cov(samples.T), cov, rtol=0, atol=0.1 * float(cov.diagonal().max()), msg=f"{rotation}")
    assert_close(new.log_scales, (parent.log_scales - math.log(1.6)).repeat(2, 1), rtol=1e-6)


def test_gradient_threshold_averages_over_views():
    model = _model([[SMALL] * 3, [LARGE] * 3, [SMALL] * 3])
    thr = CFG.grad_threshold
    # per-view means: just below, just below (a large one), just above
    state = _state([0.99 * thr * 4, 0.99 * thr * 3, 1.01 * thr * 2], count=[4, 3, 2])
    new, plan = densify(model, state, CFG, 700, EXTENT, generator=_gen())
    assert plan.keep.tolist() == [0, 1, 2] and plan.n_new == 1
    for name, p in model.parameter_dict().items():
        assert torch.equal(getattr(new, name)[:3], p) and torch.equal(getattr(new, name)[3], p[2])
    never_seen = _state([0.0, 0.0, 0.0], count=[0, 0, 0])  # 0 / 0 views must not become NaN and densify
    assert densify(model, never_seen, CFG, 700, EXTENT, generator=_gen())[1].n_new == 0


@pytest.mark.parametrize("step, big_pruned, duan_big_pruned", [(2900, False, True), (3000, False, False),
                                                               (3100, True, False)])
def test_pruning_by_opacity_always_and_by_size_after_3000(step, big_pruned, duan_big_pruned):
    # rows: faint, huge on screen, huge in the world (0.2 extent), fine
    model = _model([[SMALL] * 3, [SMALL] * 3, [math.log(0.2 * EXTENT)] + [SMALL] * 2, [SMALL] * 3])
    faint = torch.tensor([-6.0, 0.0, 0.0, 0.0])  # sigmoid(-6) < 0.005
    model = dataclasses.replace(model, opacity_logits=faint)
    state = _state([0.0] * 4, radii=[5, 25, 5, 5])
    new, plan = densify(model, state, CFG, step, EXTENT, generator=_gen())
    assert plan.keep.tolist() == ([3] if big_pruned else [1, 2, 3]) and plan.n_new == 0
    assert torch.equal(new.means, model.means[plan.keep])
    duan = DensifyConfig.duan()  # Duan prunes big Gaussians before step 3000 instead
    duan_keep = densify(model, state, duan, step, EXTENT)[1].keep.tolist()
    assert duan_keep == ([3] if duan_big_pruned else [1, 2, 3])


def test_faint_candidates_leave_no_copies():
    model = _model([[SMALL] * 3, [LARGE] * 3], opacity=0.001)
    new, plan = densify(model, _state([1.0, 1.0]), CFG, 600, EXTENT, generator=_gen())
    assert new.num_gaussians == 0 and plan.n_new == 0


def test_schedule_outside_interval_does_nothing():
    model = _model([[SMALL] * 3, [LARGE] * 3])
    state = _state([1.0, 1.0])
    for step in (0, 100, 450, 500, 550, 15000, 15100, 20000):
        new, plan = densify(model, state, CFG, step, EXTENT, generator=_gen())
        assert new is model and plan is None, step
    assert [s for s in range(0, 16000, 100) if CFG.is_densify_step(s)] == list(range(600, 15000, 100))
    assert [s for s in range(0, 31000, 100) if CFG.is_reset_step(s)] == [3000, 6000, 9000, 12000]


def test_deterministic_with_seed():
    model = _model([[LARGE] * 3] * 5)
    runs = [densify(model, _state([1.0] * 5), CFG, 600, EXTENT, generator=_gen(seed))[0].means
            for seed in (3, 3, 4)]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_row_plan_reproduces_new_tensors_and_zero_moments():
    model = _model([[SMALL] * 3, [LARGE] * 3, [SMALL] * 3, [LARGE] * 3, [SMALL] * 3]).requires_grad_()
    state = _state([1.0, 1.0, 0.0, 0.0, 1.0])
    new, plan = densify(model, state, CFG, 800, EXTENT, generator=_gen())
    assert isinstance(plan, RowPlan) and plan.num_rows == new.num_gaussians
    k = plan.keep.shape[0]
    for name, old in model.parameter_dict().items():
        fresh = getattr(new, name)
        assert fresh.is_leaf and fresh.requires_grad and fresh.grad is None, name
        assert torch.equal(plan.apply(old, fresh[k:]), fresh), name
        moment = torch.rand_like(old)
        moved = plan.apply(moment)
        assert torch.equal(moved[:k], moment[plan.keep]) and not moved[k:].any(), name


def test_opacity_reset():
    model = _model([[SMALL] * 3] * 3).requires_grad_()
    model = dataclasses.replace(model, opacity_logits=torch.tensor([2.0, -4.0, -6.0], requires_grad=True))
    new, mask = reset_opacity(model, CFG)
    assert_close(new.opacities, torch.minimum(model.opacities, torch.tensor(0.01)).detach(), rtol=1e-5)
    assert mask.tolist() == [True, True, True] and new.opacity_logits.requires_grad
    assert new.means is model.means and new.sh_rest is model.sh_rest


def test_accumulate_counts_visible_and_scales_to_ndc():
    width, height = 200, 100
    state = init_state(3)
    grad = torch.tensor([[1.0, 0.0], [0.0, 1.0], [float("nan"), 5.0]])  # culled rows may hold junk
    radii = torch.tensor([[3, 4], [7, 2], [0, 0]], dtype=torch.int32)
    state = accumulate(state, grad, radii, width, height, grad_times=torch.tensor([0.5, -0.25, 9.0]))
    state = accumulate(state, grad, torch.tensor([[0, 9], [1, 1], [0, 0]], dtype=torch.int32), width, height,
                       grad_times=torch.tensor([7.0, -0.25, 9.0]))
    assert_close(state.grad2d, torch.tensor([100.0, 100.0, 0.0]))  # (W/2) * 1 once; (H/2) * 1 twice
    assert state.count.tolist() == [1.0, 2.0, 0.0]
    assert state.max_radii.tolist() == [4.0, 7.0, 0.0]
    assert state.grad_t.tolist() == [0.5, -0.5, 0.0]


@pytest.mark.parametrize("rotation", ["dualquat", "rotor"])
def test_duan_time_gradient_rule(rotation):
    t_long, t_short = math.log(0.3 * 5.0), math.log(0.1 * 5.0)  # s_t vs 0.2 * T_extent = 1.0
    # rows: time-hot with long s_t (split), time-hot with short s_t (clone), 2D-hot small (clone), cold
    rows = [[SMALL] * 3 + [t] for t in (t_long, t_short, t_long, t_long)]
    model = _model(rows, four_d=True, rotation=rotation)
    cfg = DensifyConfig.duan()
    state = _state([0.0, 0.0, 1.0, 0.0], grad_t=[-1e-3, 1e-3, 0.0, 1e-6])
    new, plan = densify(model, state, cfg, 600, EXTENT, generator=_gen())
    assert plan.keep.tolist() == [1, 2, 3] and plan.n_new == 2 + 2
    assert torch.equal(new.means4[3:5], model.means4[[1, 2]])
    assert_close(new.log_scales[5:], (model.log_scales[0] - math.log(1.6)).expand(2, 4))
    _, yang_plan = densify(model, state, CFG, 600, EXTENT, generator=_gen())  # t-gradient unused
    assert yang_plan.keep.tolist() == [0, 1, 2, 3] and yang_plan.n_new == 1


@pytest.mark.parametrize("columns", [slice(0, 2), slice(3, 5)])
def test_read_grad_means2d_of_a_packed_view(columns):
    x = torch.randn(6, 10, requires_grad=True)
    rows = x * 2.0  # the packed tensor the loss reads; means2d is a view the loss never touches
    means2d = rows[:, columns]
    retain_grad_means2d(means2d)
    weights = torch.randn(6, 10)
    (rows * weights).sum().backward()
    assert torch.equal(read_grad_means2d(means2d), weights[:, columns])
    plain = x[:, :2].clone()
    retain_grad_means2d(plain)
    (plain * weights[:, :2]).sum().backward()
    assert torch.equal(read_grad_means2d(plain), weights[:, :2])


@pytest.mark.parametrize("four_d", [False, True])
def test_accumulate_from_a_reference_render(four_d):
    T = np.eye(4)
    T[2, 3] = 2.0
    K = intrinsics_from_fov(32, 24, fov_y_deg=40)
    camera = Camera(K=K, width=32, height=24, T_camera_world=T, time=1.0)
    model = (orbiting_gaussians(40) if four_d else shell_gaussians(60)).requires_grad_()
    out = render_gaussians(model, camera, ops="reference")
    retain_grad_means2d(out.means2d)
    (out.rgb * torch.randn_like(out.rgb)).sum().backward()
    grad = read_grad_means2d(out.means2d)
    grad_times = model.means4.grad[:, 3] if four_d else None
    state = accumulate(init_state(model.num_gaussians), grad, out.radii, 32, 24, grad_times=grad_times)
    visible = (out.radii > 0).all(-1)
    assert 0 < int(visible.sum()) == int(state.count.sum())
    assert_close(state.grad2d, torch.where(visible, (grad * torch.tensor([16.0, 12.0])).norm(dim=-1), 0.0))
    assert bool((state.grad2d[visible] > 0).any()) and not state.grad2d[~visible].any()
    assert bool((state.grad_t != 0).any()) == four_d
