"""Sphere tracing of a hash-grid SDF: the kernel against its torch reference on random fields, and against
closed forms on fields built to be exact (a plane, constants).

The exact fields: one dense level of 16^3 vertices with one feature holding f at each vertex (trilinear
interpolation reproduces an affine f exactly) and a width-16 MLP with f = relu(f) - relu(-f) in output 0,
weights set by hand. Dense levels wrap at the upper edge (vertex 16 reads vertex 0 of the next row,
REFERENCE 4.1), which breaks the reproduction for x_n > 14.5 / 15, so the plane rays stay below x = 0.93.
"""

import math

import pytest
import torch

from ngfx.kernels import runtime
from ngfx.kernels.encodings import HashGridConfig
from ngfx.kernels.networks import MLPConfig
from ngfx.kernels.networks.mlp.reference import layer_weights
from ngfx.kernels.sdf import sphere_trace
from ngfx.kernels.sdf.trace import reference as ref
from tests.helpers import assert_close

F64 = torch.float64
LO, HI = torch.tensor([-1.0, -1.0, -1.0], dtype=F64), torch.tensor([1.0, 1.0, 1.0], dtype=F64)
BOX = {"aabb_min": LO, "aabb_max": HI}
# random fields: three levels, dense and hashed (T = 2^9)
GRID = HashGridConfig(n_dims=3, n_levels=3, n_features=2, log2_table_size=9, base_resolution=3, finest_resolution=16)
MLP = MLPConfig(n_inputs=GRID.n_outputs, n_outputs=2, width=16, n_hidden_layers=1)
# exact fields (module docstring)
GRID1 = HashGridConfig(n_dims=3, n_levels=1, n_features=1, log2_table_size=12, base_resolution=16,
                       finest_resolution=16)
MLP1 = MLPConfig(n_inputs=1, n_outputs=2, width=16, n_hidden_layers=1)
NORMAL = -torch.tensor([1.0, 2.0, 2.0], dtype=F64) / 3  # the plane n . x = 0, positive side at the low corner


def random_field(seed: int):
    """A random field whose output 0 has std 0.2 and is negative in about 10% of the box: level 0's second
    feature is 1 everywhere and hidden unit 0 reads it alone, so W_1[0, 0] is a bias."""
    g = torch.Generator().manual_seed(seed)
    table = torch.rand((GRID.n_entries, 2), generator=g, dtype=F64) * 2 - 1
    table[:GRID.level_offsets()[1], 1] = 1.0
    params = torch.randn(MLP.n_params, generator=g, dtype=F64) * 0.3
    w0, w1 = layer_weights(params, MLP)
    w0[0], w1[0, 0] = 0.0, 0.0
    w0[0, 1] = 1.0
    f = ref.sdf_world(torch.rand((2000, 3), generator=g, dtype=F64) * 2 - 1, table, GRID, params, MLP, LO, HI)
    w1[0] *= 0.2 / f.std()
    w1[0, 0] = -torch.quantile(f * 0.2 / f.std(), 0.1)
    return table, params


def random_rays(seed: int, n: int):
    """Rays from around (0, 0, -2) towards +z, spread so that some miss the box."""
    g = torch.Generator().manual_seed(seed)
    origins = torch.randn((n, 3), generator=g, dtype=F64) * 0.4 + torch.tensor([0.0, 0.0, -2.0], dtype=F64)
    directions = torch.randn((n, 3), generator=g, dtype=F64) * 0.4 + torch.tensor([0.0, 0.0, 1.0], dtype=F64)
    return origins, directions * (0.5 + torch.rand((n, 1), generator=g, dtype=F64))  # lengths 0.5 to 1.5


def exact_field(values_at):
    """Table and params of the exact one-level field whose output 0 is values_at(world vertices [V, 3])."""
    res = GRID1.level_resolutions()[0]
    v = torch.arange(res**3)
    vertices = torch.stack([v % res, v // res % res, v // res**2], dim=1).to(F64)
    table = torch.zeros((GRID1.n_entries, 1), dtype=F64)
    table[:res**3, 0] = values_at(LO + (HI - LO) * (vertices - 0.5) / GRID1.level_scales()[0])
    params = torch.zeros(MLP1.n_params, dtype=F64)
    w0, w1 = layer_weights(params, MLP1)
    w0[0, 0], w0[1, 0], w1[0, 0], w1[0, 1] = 1.0, -1.0, 1.0, -1.0
    w1[1] = 0.7  # output 1 is not the SDF
    return table, params


def plane_field():
    return exact_field(lambda x: x @ NORMAL)


def plane_rays(angles_deg, heights):
    """Rays from height s above the plane through a point p0 near the origin, at angle theta to -n."""
    p0 = torch.tensor([0.1, -0.2, 0.05], dtype=F64)
    p0 = p0 - (p0 @ NORMAL) * NORMAL
    u = torch.nn.functional.normalize(torch.linalg.cross(NORMAL, torch.tensor([1.0, 0.0, 0.0], dtype=F64)), dim=0)
    theta = torch.tensor(angles_deg, dtype=F64) * math.pi / 180
    s = torch.tensor(heights, dtype=F64)
    origins = p0 + s[:, None] * NORMAL
    directions = -torch.cos(theta)[:, None] * NORMAL + torch.sin(theta)[:, None] * u
    return origins, directions, s, torch.cos(theta)


def expected_plane_steps(s, cos, epsilon, step_scale, max_steps):
    """Evaluations until f < epsilon when f_{k+1} = f_k (1 - step_scale cos), f_0 = s."""
    out = []
    for f, c in zip(s.tolist(), cos.tolist()):
        n = 1
        while f >= epsilon and n < max_steps:
            f, n = f * (1 - step_scale * c), n + 1
        out.append(n)
    return torch.tensor(out, dtype=torch.int32)


def trace_both(origins, directions, table, grid, params, mlp, **kw):
    got = sphere_trace(origins, directions, table, grid, params, mlp, **kw)
    want = ref.sphere_trace(origins, directions, table, grid, params, mlp, **kw)
    return got, want


def assert_same_trace(got, want, msg, rtol=1e-10, atol=1e-9, normals=True):
    assert torch.equal(got.hit, want.hit), f"{msg}: hit masks differ at {(got.hit != want.hit).nonzero()[:5]}"
    assert torch.equal(got.steps, want.steps), f"{msg}: steps differ at {(got.steps != want.steps).nonzero()[:5]}"
    assert_close(got.t, want.t, rtol=rtol, atol=atol, msg=f"{msg}: t")
    if normals:
        assert_close(got.normals, want.normals, rtol=0, atol=atol, msg=f"{msg}: normals")


@pytest.mark.parametrize("march", [(40, 1.0), (12, 0.7)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference_on_random_fields(cpu_arch, seed, march):
    max_steps, step_scale = march
    table, params = random_field(seed)
    origins, directions = random_rays(10 + seed, 300)
    got, want = trace_both(origins, directions, table, GRID, params, MLP, **BOX, near=0.0, far=3.5,
                           max_steps=max_steps, epsilon=1e-3, step_scale=step_scale)
    assert_same_trace(got, want, f"seed {seed} march {march}")
    msg = f"seed {seed} march {march}: a degenerate case"
    assert int((got.hit & (got.steps > 3)).sum()) > 10, msg
    assert int((got.steps == 0).sum()) > 10, msg  # missed the box
    assert int((~got.hit & (got.steps > 0)).sum()) > 10, msg  # left the box or ran out of steps
    if max_steps == 12:
        assert int((~got.hit & (got.steps == max_steps)).sum()) > 0, msg
    lengths = got.normals[got.hit].norm(dim=1)
    assert_close(lengths, torch.ones_like(lengths), rtol=0, atol=1e-12, msg=f"seed {seed}: unit normals")


@pytest.mark.parametrize("epsilon, step_scale", [(1e-3, 1.0), (5e-2, 1.0), (1e-3, 0.5), (1e-4, 1.3)])
def test_plane_hits_match_closed_form(cpu_arch, epsilon, step_scale):
    table, params = plane_field()
    angles = [0.0, 20.0, 40.0, 55.0, 10.0, 30.0]
    origins, directions, s, cos = plane_rays(angles, [0.3, 0.5, 0.4, 0.25, 0.6, 0.45])
    directions[4:] *= 1.7  # any length: t scales with 1 / |d|
    length = directions.norm(dim=1)
    got, want = trace_both(origins, directions, table, GRID1, params, MLP1, **BOX, near=0.0, far=5.0,
                           max_steps=64, epsilon=epsilon, step_scale=step_scale)
    assert_same_trace(got, want, f"eps {epsilon} scale {step_scale}")
    msg = f"eps {epsilon} scale {step_scale}"
    assert bool(got.hit.all()), msg
    t_star = s / cos / length  # where o + t d meets the plane
    gap = (t_star - got.t) * length  # world distance short of the plane, along the ray
    # sphere tracing never crosses a plane; an over-relaxed step does, by at most (scale - 1) f_k <= (scale - 1) s
    assert bool((gap > -max(step_scale - 1, 0.0) * s / cos - 1e-12).all()), msg
    assert bool((gap < epsilon / cos + 1e-12).all()), msg
    assert torch.equal(got.steps, expected_plane_steps(s, cos, epsilon, step_scale, 64)), msg
    assert_close(got.normals, NORMAL.expand(6, 3), rtol=0, atol=1e-9, msg=f"{msg}: normals")
    if step_scale == 1.0:
        assert int(got.steps[0]) == 2, "head-on: one step lands on the plane"


def test_miss_and_start_branches(cpu_arch):
    table, params = plane_field()
    o, d, _, _ = plane_rays([0.0] * 4, [0.3] * 4)
    n = NORMAL
    rays = [
        (o[0], -d[0], {}, (False, 2)),  # away from the plane: t = 0.3, then 0.9 > far = 0.5
        (o[0], d[0], {"max_steps": 3, "step_scale": 0.25}, (False, 3)),  # out of steps: f_k = 0.3 * 0.75^k
        (o[0], d[0], {"near": 0.4}, (True, 1)),  # starts past the plane: a hit at once, at t = near
        (torch.tensor([0.0, 0.0, -3.0], dtype=F64), torch.tensor([0.0, 0.0, -1.0], dtype=F64), {}, (False, 0)),
        # d_x = 0 with o_x outside the x slab: a miss, though y and z alone would enter the box
        (torch.tensor([1.5, 0.0, 0.0], dtype=F64), torch.tensor([0.0, 0.6, 0.8], dtype=F64), {}, (False, 0)),
        # d_x = 0 inside the x slab: that axis clips nothing
        (torch.tensor([0.2, -0.4, -0.4], dtype=F64), torch.tensor([0.0, 0.6, 0.8], dtype=F64), {"far": 5.0},
         (True, None)),
        (o[0] + 2.2 * n, d[0], {"far": 5.0}, (True, 2)),  # from outside the box: enters, then one step
    ]
    for i, (origin, direction, extra, (hit, steps)) in enumerate(rays):
        kw = {"near": 0.0, "far": 0.5, "max_steps": 64, "epsilon": 1e-3, "step_scale": 1.0} | extra
        got, want = trace_both(origin[None], direction[None], table, GRID1, params, MLP1, **BOX, **kw)
        assert_same_trace(got, want, f"ray {i}")
        assert bool(got.hit[0]) == hit and (steps is None or int(got.steps[0]) == steps), (i, got)
        if not hit:
            assert math.isinf(float(got.t[0])) and float(got.normals.abs().max()) == 0.0, (i, got)
    got = sphere_trace(o[:1], d[:1], table, GRID1, params, MLP1, **BOX, near=0.4, far=0.5)
    assert float(got.t[0]) == 0.4  # ray 2's hit is at t = near exactly


def test_constant_fields(cpu_arch):
    """+0.5 never hits; -0.5 hits at the first evaluation, at t_start (its normals are rounding noise of a
    flat field, normalised: not compared); an exactly zero field (W_0 = 0) hits at once with zero normals."""
    origins, directions = random_rays(3, 100)
    kw = {"near": 0.2, "far": 3.0, "max_steps": 40, "epsilon": 1e-3}
    t0, t1 = ref.box_interval(origins, directions, LO, HI)
    t_start, t_end = t0.clamp(min=0.2), t1.clamp(max=3.0)
    inside = t_start <= t_end
    assert 20 < int(inside.sum()) < 100
    for value in (0.5, -0.5, 0.0):
        table, params = exact_field(lambda x, v=value: torch.full_like(x[:, 0], v))
        if value == 0.0:
            table, params = plane_field()
            layer_weights(params, MLP1)[0].zero_()
        got, want = trace_both(origins, directions, table, GRID1, params, MLP1, **BOX, **kw)
        assert_same_trace(got, want, f"constant {value}", normals=value >= 0)
        if value > 0:  # never a hit: floor((t_end - t_start) |d| / 0.5) + 1 steps while t <= t_end
            assert not bool(got.hit.any())
            expected = torch.floor((t_end - t_start) * directions.norm(dim=1) / 0.5).to(torch.int32) + 1
            assert torch.equal(got.steps, torch.where(inside, expected, 0))
        else:
            assert torch.equal(got.hit, inside) and torch.equal(got.steps, inside.to(torch.int32)), value
            assert torch.equal(got.t[inside], t_start[inside]), value
        if value == 0.0:
            assert float(got.normals.abs().max()) == 0.0


def test_float32_and_float16_fields_close_to_float64(cpu_arch):
    table, params = plane_field()
    origins, directions, _, _ = plane_rays([0.0, 25.0, 45.0], [0.3, 0.5, 0.4])
    kw = {**BOX, "near": 0.0, "far": 5.0, "epsilon": 1e-3}
    want = sphere_trace(origins, directions, table, GRID1, params, MLP1, **kw)
    for dtype, tol in ((torch.float32, 1e-5), (torch.float16, 2e-3)):
        got = sphere_trace(origins.float(), directions.float(), table.to(dtype), GRID1, params.to(dtype), MLP1, **kw)
        assert got.t.dtype == torch.float32 and bool(got.hit.all()), dtype
        assert_close(got.t.double(), want.t, rtol=0, atol=tol, msg=str(dtype))
        assert_close(got.normals.double(), want.normals, rtol=0, atol=20 * tol, msg=str(dtype))


def test_empty_and_bad_input(cpu_arch):
    table, params = plane_field()
    o, d = torch.zeros((0, 3), dtype=F64), torch.zeros((0, 3), dtype=F64)
    kw = {**BOX, "near": 0.0, "far": 1.0}
    assert sphere_trace(o, d, table, GRID1, params, MLP1, **kw).t.shape == (0,)
    o, d = torch.zeros((2, 3), dtype=F64), torch.ones((2, 3), dtype=F64)
    none = sphere_trace(o, d, table, GRID1, params, MLP1, **kw, max_steps=0)
    assert not bool(none.hit.any()) and int(none.steps.abs().max()) == 0
    with pytest.raises(ValueError, match="one shape"):
        sphere_trace(o, d[:1], table, GRID1, params, MLP1, **kw)
    with pytest.raises(ValueError, match="near"):
        sphere_trace(o, d, table, GRID1, params, MLP1, **BOX, near=2.0, far=1.0)
    with pytest.raises(ValueError, match="aabb_max"):
        sphere_trace(o, d, table, GRID1, params, MLP1, aabb_min=HI, aabb_max=LO, near=0.0, far=1.0)
    with pytest.raises(ValueError, match="inputs"):
        sphere_trace(o, d, table, GRID1, params, MLPConfig(n_inputs=2, n_outputs=1), **kw)
    grid2 = HashGridConfig(n_dims=2, n_levels=1, n_features=1, log2_table_size=8, base_resolution=4,
                           finest_resolution=4)
    with pytest.raises(ValueError, match="3D grid"):
        sphere_trace(o, d, torch.zeros((grid2.n_entries, 1), dtype=F64), grid2, params, MLP1, **kw)
    with pytest.raises(ValueError, match="float64"):
        sphere_trace(o, d, table, GRID1, params.float(), MLP1, **kw)


def test_forward_on_every_backend(arch):
    table, params = plane_field()
    origins, directions, _, _ = plane_rays([0.0, 15.0, 30.0, 50.0], [0.3, 0.5, 0.4, 0.6])
    origins = torch.cat([origins, torch.tensor([[0.0, 0.0, -3.0]], dtype=F64)])  # and a miss
    directions = torch.cat([directions, torch.tensor([[0.0, 0.0, -1.0]], dtype=F64)])
    kw = {**BOX, "near": 0.0, "far": 5.0, "epsilon": 1e-3}
    want = ref.sphere_trace(origins, directions, table, GRID1, params, MLP1, **kw)
    dev = runtime.device()
    got = sphere_trace(origins.float().to(dev), directions.float().to(dev), table.float().to(dev), GRID1,
                       params.float().to(dev), MLP1, **kw)
    assert torch.equal(got.hit.cpu(), want.hit) and bool(want.hit[:4].all()), arch
    assert torch.equal(got.steps.cpu(), want.steps), arch
    hit = want.hit  # t on hits only: tests/helpers.assert_close's bound is NaN for inf with rtol=0
    assert_close(got.t.cpu().double()[hit], want.t[hit], rtol=0, atol=1e-5, msg=arch)
    assert_close(got.normals.cpu().double(), want.normals, rtol=0, atol=1e-3, msg=arch)
