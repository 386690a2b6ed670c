"""Duan's velocity-consistency loss L_4D: neighbour search (exact and approximate), velocities, loss value,
gradients and the neighbour cache."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from ngfx.kernels.splat.slice4d.reference import rotation_matrix_4d
from ngfx.splatting.consistency import (
    TIME_SCALE,
    VelocityConsistency,
    consistency_points,
    knn_indices,
    velocities,
    velocity_consistency_loss,
    velocity_residuals,
)
from tests.helpers import assert_close
from tests.splatting import random_gaussians_4d

ROTATIONS = ("dualquat", "rotor")
IDENTITY = {"dualquat": [1.0, 0, 0, 0, 1, 0, 0, 0], "rotor": [1.0, 0, 0, 0, 0, 0, 0, 0]}


def model4d(n, rotation="dualquat", seed=0, dtype=torch.float64, **fields):
    """n random 4D Gaussians in `dtype`, log-scales in a well-conditioned range; `fields` override."""
    model = random_gaussians_4d(n, 0, 0, rotation=rotation, seed=seed)
    g = torch.Generator().manual_seed(seed + 100)
    values = {name: getattr(model, name).to(dtype) for name in model.PARAMETER_NAMES}
    values["log_scales"] = (torch.randn(n, 4, generator=g) * 0.4 - 1).to(dtype)
    values.update(fields)
    return dataclasses.replace(model, **values)


def naive_knn_distances(points: np.ndarray, k: int) -> tuple[np.ndarray, list[set]]:
    """Per row: the k smallest distances to other points (sorted) and the set of indices that may be the k
    nearest (every index no farther than the k-th distance), by plain loops."""
    n = len(points)
    sorted_dists, allowed = [], []
    for i in range(n):
        dists = [(float(np.sqrt(((points[i] - points[j]) ** 2).sum())), j) for j in range(n) if j != i]
        dists.sort()
        kth = dists[k - 1][0]
        sorted_dists.append([d for d, _ in dists[:k]])
        allowed.append({j for d, j in dists if d <= kth + 1e-12})
    return np.array(sorted_dists), allowed


def check_knn(points: torch.Tensor, found: torch.Tensor, k: int):
    expected, allowed = naive_knn_distances(points.numpy(), k)
    assert found.shape == (len(points), k) and found.dtype == torch.long
    got = (points[found] - points[:, None]).norm(dim=-1).numpy()
    np.testing.assert_allclose(np.sort(got, 1), expected, rtol=1e-9, atol=1e-12)
    for i, row in enumerate(found.tolist()):
        assert i not in row and len(set(row)) == k and set(row) <= allowed[i], (i, row)


@pytest.mark.parametrize("n, dims, k", [(2, 4, 1), (9, 4, 8), (40, 4, 8), (57, 3, 5), (30, 1, 3)])
def test_exact_knn_matches_naive(n, dims, k):
    points = torch.rand(n, dims, generator=torch.Generator().manual_seed(n), dtype=torch.float64)
    check_knn(points, knn_indices(points, k), k)


def test_exact_knn_ties_and_duplicates_exclude_self():
    grid = torch.stack(torch.meshgrid(*[torch.arange(3.0, dtype=torch.float64)] * 3, indexing="ij"), -1)
    points = torch.cat([grid.reshape(-1, 3)] * 2)  # every point twice: a twin at distance 0
    check_knn(points, knn_indices(points, 8), 8)


def test_exact_knn_float32_far_from_the_origin():
    """cdist's matmul form would lose these distances (recall ~0.6); the direct form must not."""
    points = torch.rand(200, 4, generator=torch.Generator().manual_seed(9)) * 0.5 + 100
    found = knn_indices(points, 8)
    expected, _ = naive_knn_distances(points.double().numpy(), 8)
    got = (points.double()[found] - points.double()[:, None]).norm(dim=-1).numpy()
    np.testing.assert_allclose(np.sort(got, 1), expected, rtol=1e-4)


def test_small_sets_clamp_k():
    assert knn_indices(torch.zeros(0, 4), 8).shape == (0, 0)
    assert knn_indices(torch.zeros(1, 4), 8).shape == (1, 0)
    found = knn_indices(torch.rand(4, 4), 8)
    assert found.shape == (4, 3)
    assert all(sorted(row + [i]) == [0, 1, 2, 3] for i, row in enumerate(found.tolist()))


def test_approximate_knn_recall_on_uniform_points():
    points = torch.rand(20_000, 4, generator=torch.Generator().manual_seed(0))
    found = knn_indices(points, 8, exact_below=1000, generator=torch.Generator().manual_seed(1))
    rows = torch.randperm(len(points), generator=torch.Generator().manual_seed(2))[:2000]
    dist = torch.cdist(points[rows], points)
    dist[torch.arange(len(rows)), rows] = float("inf")
    exact = dist.topk(8, largest=False).indices
    recall = (found[rows][:, :, None] == exact[:, None, :]).any(1).float().mean().item()
    assert recall >= 0.9, recall  # measured 0.987
    assert not (found == torch.arange(len(points))[:, None]).any()


def test_approximate_knn_rows_are_distinct_with_duplicate_points():
    points = torch.rand(150, 4, generator=torch.Generator().manual_seed(3)).repeat(2, 1)
    found = knn_indices(points, 8, exact_below=0, generator=torch.Generator().manual_seed(0))
    for i, row in enumerate(found.tolist()):
        assert i not in row and len(set(row)) == 8
    assert (found[:150, 0] == torch.arange(150) + 150).all()  # the twin is always found (distance 0)


def test_consistency_points_scale_time_and_detach():
    model = model4d(5, means4=torch.randn(5, 4, dtype=torch.float64).requires_grad_())
    points = consistency_points(model)
    assert not points.requires_grad
    assert_close(points, torch.cat([model.means4[:, :3], TIME_SCALE * model.means4[:, 3:]], 1).detach())


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_velocity_of_an_xt_rotation_matches_closed_form(rotation):
    """Rotation by theta in the x-t plane, scales (sx, st): v_x = +-c s (sx^2 - st^2) / (s^2 sx^2 + c^2 st^2)."""
    half = torch.tensor([0.1, 0.3, 0.6], dtype=torch.float64)
    rot = torch.zeros(3, 8, dtype=torch.float64)
    if rotation == "dualquat":  # v -> e^(k a) v e^(k a) turns x (the 1 part) towards t (the k part) by 2a
        rot[:, 0] = rot[:, 4] = torch.cos(half)
        rot[:, 3] = rot[:, 7] = torch.sin(half)
    else:  # rotor s + b_xw (the x-w plane, w = t) turns by 2a too
        rot[:, 0], rot[:, 4] = torch.cos(half), torch.sin(half)
    log_scales = torch.log(torch.tensor([[0.5, 0.2, 0.3, 1.5]], dtype=torch.float64)).repeat(3, 1)
    vel = velocities(model4d(3, rotation, rotations=rot, log_scales=log_scales))
    c, s = torch.cos(2 * half), torch.sin(2 * half)
    sx2, st2 = 0.25, 2.25
    expected = c * s * (sx2 - st2) / (s * s * sx2 + c * c * st2)
    assert_close(vel[:, 0].abs(), expected.abs(), rtol=1e-10)
    assert_close(vel[:, 1:], torch.zeros(3, 2, dtype=torch.float64), atol=1e-12)


def loss_by_loops(model, k: int) -> float:
    """L_4D from the rotation matrices with plain Python loops over Gaussians and neighbours."""
    rot = rotation_matrix_4d(model.rotations, model.rotation).detach().numpy()
    scales = np.exp(model.log_scales.detach().numpy())
    points = consistency_points(model).numpy()
    n = len(points)
    vel = []
    for i in range(n):
        m = rot[i] @ np.diag(scales[i])
        sigma = m @ m.T
        vel.append(sigma[:3, 3] / sigma[3, 3])
    total = 0.0
    for i in range(n):
        others = sorted((np.linalg.norm(points[i] - points[j]), j) for j in range(n) if j != i)
        mean = sum(vel[j] for _, j in others[:k]) / k
        total += np.abs(vel[i] - mean).sum()
    return total / n * (k - 1) / k


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_loss_matches_loops_on_a_tiny_model(rotation):
    model = model4d(5, rotation, seed=4)
    loss = VelocityConsistency(k=2).loss(model, step=0)
    assert loss.ndim == 0
    assert math.isclose(loss.item(), loss_by_loops(model, 2), rel_tol=1e-10)


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_loss_gradcheck_float64(rotation):
    model = model4d(6, rotation, seed=5)
    neighbours = knn_indices(consistency_points(model), 2)

    def loss(log_scales, rotations):
        moved = dataclasses.replace(model, log_scales=log_scales, rotations=rotations)
        return velocity_consistency_loss(velocities(moved), neighbours, 2)

    inputs = (model.log_scales.clone().requires_grad_(), model.rotations.clone().requires_grad_())
    assert torch.autograd.gradcheck(loss, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_residual_vjp_matches_a_direct_formulation(rotation):
    """VJP of the [N, 3] residuals with a random cotangent, against autograd of a per-Gaussian Sigma4 and a
    dense averaging matrix A (residual = (I - A) v), and against the analytic (I - A)^T g in velocity."""
    n, k = 7, 3
    model = model4d(n, rotation, seed=6)
    neighbours = knn_indices(consistency_points(model), k)
    cotangent = torch.randn(n, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    averaging = torch.zeros(n, n, dtype=torch.float64)
    for i, row in enumerate(neighbours.tolist()):
        for j in row:
            averaging[i, j] += 1.0 / k

    def direct(log_scales, rotations):
        vel = []
        for i in range(n):
            m = rotation_matrix_4d(rotations[i:i + 1], rotation)[0] * torch.exp(log_scales[i])
            sigma = m @ m.T
            vel.append(sigma[:3, 3] / sigma[3, 3])
        return (torch.eye(n, dtype=torch.float64) - averaging) @ torch.stack(vel)

    def ours(log_scales, rotations):
        moved = dataclasses.replace(model, log_scales=log_scales, rotations=rotations)
        return velocity_residuals(velocities(moved), neighbours)

    inputs = (model.log_scales, model.rotations)
    out_ours, vjp_ours = torch.autograd.functional.vjp(ours, inputs, cotangent)
    out_direct, vjp_direct = torch.autograd.functional.vjp(direct, inputs, cotangent)
    assert_close(out_ours, out_direct, rtol=1e-10, atol=1e-12)
    for got, want in zip(vjp_ours, vjp_direct):
        assert_close(got, want, rtol=1e-9, atol=1e-10)
    vel = velocities(model).detach().requires_grad_()
    (grad_vel,) = torch.autograd.grad(velocity_residuals(vel, neighbours), vel, cotangent)
    assert_close(grad_vel, (torch.eye(n, dtype=torch.float64) - averaging).T @ cotangent, atol=1e-12)


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_loss_is_zero_for_equal_velocities_and_positive_otherwise(rotation):
    n = 20
    identity = torch.tensor(IDENTITY[rotation], dtype=torch.float64).repeat(n, 1)
    still = model4d(n, rotation, rotations=identity)
    assert velocity_consistency_loss(velocities(still), knn_indices(consistency_points(still), 8), 8).item() == 0
    same = model4d(n, rotation, rotations=torch.randn(1, 8, dtype=torch.float64).repeat(n, 1),
                   log_scales=torch.randn(1, 4, dtype=torch.float64).repeat(n, 1))
    assert velocities(same).abs().min() > 1e-3
    assert VelocityConsistency().loss(same, 0).item() < 1e-12
    assert VelocityConsistency().loss(model4d(n, rotation), 0).item() > 1e-2


def test_loss_without_neighbours_is_zero_and_backpropagates():
    for n in (0, 1):
        model = model4d(n, log_scales=torch.zeros(n, 4, dtype=torch.float64, requires_grad=True))
        loss = VelocityConsistency().loss(model, 0)
        assert loss.item() == 0
        loss.backward()
        assert model.log_scales.grad is not None and model.log_scales.grad.abs().sum() == 0


def test_few_gaussians_use_all_others_and_the_requested_k():
    model = model4d(3, seed=8)
    vel = velocities(model).detach()
    residual = vel - (vel.sum(0) - vel) / 2  # each one's two others
    expected = residual.abs().sum(1).mean() * 7 / 8
    assert_close(VelocityConsistency(k=8).loss(model, 0).detach(), expected, rtol=1e-12)


def test_neighbour_cache_refreshes_on_schedule_size_change_and_invalidate():
    consistency = VelocityConsistency(k=4, refresh_every=10)
    model = model4d(12, dtype=torch.float32)
    first = consistency.neighbours_for(model, 0)
    assert consistency.neighbours_for(model, 9) is first
    moved = dataclasses.replace(model, means4=model.means4 + 1)
    assert consistency.neighbours_for(moved, 10) is not first  # refresh_every steps later
    second = consistency.neighbours
    grown = model4d(15, dtype=torch.float32)
    third = consistency.neighbours_for(grown, 11)  # densified: N changed
    assert third is not second and third.shape == (15, 4)
    consistency.invalidate()
    assert consistency.neighbours_for(grown, 12) is not third
    fourth = consistency.neighbours
    assert consistency.neighbours_for(grown, 3) is not fourth  # step went backwards (a restart)
    loss = consistency.loss(grown, 4)
    assert loss.dtype == torch.float32 and loss.item() > 0
