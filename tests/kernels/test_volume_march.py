"""The ray marcher against its reference: sample parity, every branch, exact skipping, an image check."""

import math

import pytest
import torch

from ngfx.kernels import runtime
from ngfx.kernels.volume.march import MarchOutput, march_rays
from ngfx.kernels.volume.march import reference as ref
from ngfx.kernels.volume.occupancy import (
    OccupancyGridConfig,
    cell_centers,
    cells_to_update,
    pack_bitfield,
    point_cells,
    sample_in_cells,
    unpack_bitfield,
    update_occupancy,
)
from tests.helpers import assert_close

ONE = OccupancyGridConfig(resolution=16, n_cascades=1)  # cube [-1, 1]^3
THREE = OccupancyGridConfig(resolution=8, n_cascades=3, center=(0.2, -0.1, 0.3), half_size=0.5)
CASES = {"one": (ONE, {"step_size": 0.02}), "three-cone": (THREE, {"step_size": 0.01, "cone_angle": 0.05})}


def full(cfg):
    return torch.full((cfg.n_cascades, cfg.n_cells // 8), 255, dtype=torch.uint8)


def random_bits(cfg, seed: int, p: float = 0.3):
    g = torch.Generator().manual_seed(seed)
    return pack_bitfield((torch.rand((cfg.n_cascades, cfg.n_cells), generator=g) < p).float(), cfg)


def random_rays(cfg, seed: int, n: int = 300, dtype=torch.float64):
    """Origins inside and outside the outer cube, some axis-parallel directions, per-ray near and far."""
    g = torch.Generator().manual_seed(seed)
    h = cfg.cascade_half_size(cfg.n_cascades - 1)
    origins = torch.tensor(cfg.center) + (torch.rand((n, 3), generator=g, dtype=torch.float64) - 0.5) * 3 * h
    directions = torch.randn((n, 3), generator=g, dtype=torch.float64)
    directions[: n // 10, 1:] = 0.0  # along x
    directions[n // 10: n // 5, 0] = 0.0  # in the yz plane
    directions = directions / directions.norm(dim=-1, keepdim=True)
    near = torch.rand(n, generator=g, dtype=torch.float64) * 0.3 * h
    far = near + torch.rand(n, generator=g, dtype=torch.float64) * 4 * h
    return origins.to(dtype), directions.to(dtype), near.to(dtype), far.to(dtype)


def assert_same_samples(got: MarchOutput, want: MarchOutput, *, atol: float, max_bad_rays: float = 0.0, msg=""):
    """Ray by ray: equal counts (all rays, or all but a fraction for float32 boundary flips) and equal
    intervals and positions within atol on the rays whose counts agree."""
    counts_got, counts_want = got.ray_offsets.diff(), want.ray_offsets.diff()
    same = counts_got == counts_want
    assert float((~same).float().mean()) <= max_bad_rays, f"{msg}: {int((~same).sum())} rays differ in count"
    assert float(want.ray_offsets[-1]) > 50, f"{msg}: degenerate case with {int(want.ray_offsets[-1])} samples"
    keep_got, keep_want = same[got.ray_indices], same[want.ray_indices]
    assert torch.equal(got.ray_indices[keep_got], want.ray_indices[keep_want]), msg
    for name in ("t_starts", "t_ends", "positions"):
        a, b = getattr(got, name)[keep_got], getattr(want, name)[keep_want]
        assert_close(a, b, rtol=0, atol=atol, msg=f"{msg}: {name}")


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference_float64(cpu_arch, case, seed):
    cfg, kw = CASES[case]
    o, d, near, far = random_rays(cfg, seed)
    bits = random_bits(cfg, 10 + seed)
    got, want = march_rays(o, d, near, far, bits, cfg, **kw), ref.march_rays(o, d, near, far, bits, cfg, **kw)
    assert_same_samples(got, want, atol=1e-12, msg=f"{case}, seed {seed}")
    assert got.ray_offsets.dtype == torch.int32 and got.ray_indices.dtype == torch.int64
    mids = (got.t_starts + got.t_ends) / 2
    assert_close(got.positions, o[got.ray_indices] + d[got.ray_indices] * mids[:, None], rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_reference_float32(cpu_arch, case):
    cfg, kw = CASES[case]
    o, d, near, far = random_rays(cfg, 3, dtype=torch.float32)
    bits = random_bits(cfg, 13)
    got, want = march_rays(o, d, near, far, bits, cfg, **kw), ref.march_rays(o, d, near, far, bits, cfg, **kw)
    # float32: a midpoint within rounding of a cell face may flip a cell on one path (REFERENCE 8.3 band)
    assert_same_samples(got, want, atol=1e-5, max_bad_rays=0.02, msg=case)


def march_one(cfg, origin, direction, bits=None, near=0.0, far=math.inf, **kw):
    o = torch.tensor([origin], dtype=torch.float64)
    d = torch.nn.functional.normalize(torch.tensor([direction], dtype=torch.float64), dim=-1)
    bits = full(cfg) if bits is None else bits
    out = march_rays(o, d, near, far, bits, cfg, **kw)
    want = ref.march_rays(o, d, near, far, bits, cfg, **kw)
    assert torch.equal(out.ray_offsets, want.ray_offsets), (out.ray_offsets, want.ray_offsets)
    assert_close(out.t_starts, want.t_starts, rtol=0, atol=1e-12)
    return out


def test_branches(cpu_arch):
    # misses: outside a slab with a zero direction component, and a slanted ray passing by
    assert march_one(ONE, (-3.0, 3.0, 0.0), (1.0, 0.0, 0.0)).n_samples == 0
    assert march_one(ONE, (-3.0, 0.0, 0.0), (1.0, 2.0, 0.0)).n_samples == 0
    assert march_one(ONE, (0.0, 0.0, 0.0), (1.0, 0.0, 0.0), near=2.0, far=5.0).n_samples == 0  # past the cube
    assert march_one(ONE, (0.0, 0.0, 0.0), (1.0, 0.0, 0.0), near=0.5, far=0.2).n_samples == 0  # near > far
    assert march_one(ONE, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0)).n_samples == 0  # a zero direction: never walked
    # a fully occupied grid: uniform contiguous steps from the entry to the exit
    out = march_one(ONE, (-3.0, 0.1, 0.2), (1.0, 0.0, 0.0), step_size=0.02)
    assert out.n_samples == 100 and float(out.t_starts[0]) == 2.0
    assert_close(out.t_ends - out.t_starts, torch.full((100,), 0.02, dtype=torch.float64), rtol=0, atol=1e-12)
    assert torch.equal(out.t_starts[1:], out.t_ends[:-1])
    assert float(out.t_ends[-1]) == pytest.approx(4.0, abs=1e-9)
    # starting inside: the first sample starts at near
    inside = march_one(ONE, (0.1, 0.2, -0.3), (0.3, -1.0, 0.5), near=0.05, step_size=0.02)
    assert inside.n_samples > 10 and float(inside.t_starts[0]) == 0.05
    # an empty grid: nothing
    empty = torch.zeros_like(full(ONE))
    assert march_one(ONE, (-3.0, 0.1, 0.2), (1.0, 0.0, 0.0), bits=empty).n_samples == 0
    # the cap keeps each ray's first samples
    capped = march_one(ONE, (-3.0, 0.1, 0.2), (1.0, 0.0, 0.0), step_size=0.02, max_samples_per_ray=7)
    assert capped.n_samples == 7 and torch.equal(capped.t_starts, out.t_starts[:7])
    # the default step: sqrt(3) / 1024 of cascade 0's edge
    default = march_one(ONE, (-3.0, 0.1, 0.2), (1.0, 0.0, 0.0))
    assert_close(default.t_ends - default.t_starts, torch.full((default.n_samples,), ONE.min_step,
                                                               dtype=torch.float64), rtol=0, atol=1e-12)
    # no rays at all
    none = march_rays(torch.zeros((0, 3)), torch.zeros((0, 3)), 0.0, 1.0, full(ONE), ONE)
    assert none.n_samples == 0 and none.ray_offsets.tolist() == [0]


def test_cone_stepping_grows_between_the_clamps(cpu_arch):
    cfg = OccupancyGridConfig(resolution=8, n_cascades=3)  # outer cube [-4, 4]^3, max_step = sqrt(3) 8 / 8
    out = march_one(cfg, (0.0, 0.0, 0.0), (1.0, 0.3, -0.2), step_size=0.01, cone_angle=1.0)
    dt = out.t_ends - out.t_starts
    expected = (out.t_starts * 1.0).clamp(0.01, cfg.max_step)
    assert_close(dt, expected, rtol=0, atol=1e-12)
    assert bool((dt[1:] >= dt[:-1]).all())
    assert float(dt[0]) == 0.01 and float(dt[-1]) == pytest.approx(cfg.max_step)  # both clamps reached
    assert bool(((dt > 0.011) & (dt < cfg.max_step - 1e-3)).any())  # and the growing regime between


def test_samples_lie_in_the_one_occupied_cell(cpu_arch):
    """Independent of point_cells: geometry of a single occupied cell per cascade."""
    cfg = THREE
    for k, xyz in ((0, (2, 5, 3)), (2, (0, 6, 7))):  # cascade 2's cell lies outside cascade 1
        lin = xyz[0] + cfg.resolution * (xyz[1] + cfg.resolution * xyz[2])
        grid = torch.zeros((cfg.n_cascades, cfg.n_cells))
        grid[k, lin] = 1.0
        bits = pack_bitfield(grid, cfg)
        edge, h = cfg.cell_size(k), cfg.cascade_half_size(k)
        lo = torch.tensor([c - h + i * edge for c, i in zip(cfg.center, xyz)], dtype=torch.float64)
        g = torch.Generator().manual_seed(k)
        target = lo + edge * (0.1 + 0.8 * torch.rand((40, 3), generator=g, dtype=torch.float64))
        origins = target + 3.0 * torch.nn.functional.normalize(torch.randn((40, 3), generator=g,
                                                                           dtype=torch.float64), dim=-1)
        dirs = torch.nn.functional.normalize(target - origins, dim=-1)
        out = march_rays(origins, dirs, 0.0, 20.0, bits, cfg, step_size=edge / 16)
        assert bool((out.ray_offsets.diff() >= 4).all()), f"cascade {k}"
        assert bool(((out.positions >= lo - 1e-12) & (out.positions <= lo + edge + 1e-12)).all()), f"cascade {k}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_skipping_keeps_exactly_the_occupied_dense_samples(cpu_arch, case):
    cfg, kw = CASES[case]
    o, d, near, far = random_rays(cfg, 4)
    bits = random_bits(cfg, 14, p=0.15)
    skipped, dense = march_rays(o, d, near, far, bits, cfg, **kw), march_rays(o, d, near, far, full(cfg), cfg, **kw)
    keep = unpack_bitfield(bits, cfg).view(-1)[point_cells(cfg, dense.positions)]
    assert 0.05 < float(keep.float().mean()) < 0.5, case  # skipping really skips
    counts = torch.zeros(o.shape[0], dtype=torch.int64).index_add_(0, dense.ray_indices, keep.long())
    assert torch.equal(skipped.ray_offsets.diff().long(), counts), case
    for name in ("ray_indices", "t_starts", "t_ends", "positions"):
        assert torch.equal(getattr(skipped, name), getattr(dense, name)[keep]), f"{case}: {name}"


def composite(sigmas, rgbs, out: MarchOutput, n_rays: int):
    """Emission-absorption colour [R, 3] (black background) of packed samples, in torch (REFERENCE 4.5)."""
    tau = sigmas * (out.t_ends - out.t_starts)
    before = torch.cumsum(tau, 0) - tau  # optical depth before each sample, counted from the first ray
    first = out.ray_offsets[:-1].long().clamp(max=max(tau.shape[0] - 1, 0))
    start = before[first][out.ray_indices] if tau.numel() else before
    weights = torch.exp(-(before - start)) * (1 - torch.exp(-tau))
    return torch.zeros((n_rays, 3), dtype=sigmas.dtype).index_add_(0, out.ray_indices, weights[:, None] * rgbs)


def camera_rays(width: int, z: float):
    """A pinhole camera at (0, 0, z) looking along +z (OpenCV frame), pixel centres at +0.5."""
    j, i = torch.meshgrid(torch.arange(width), torch.arange(width), indexing="ij")
    f = c = width / 2
    d = torch.stack([(i + 0.5 - c) / f, (j + 0.5 - c) / f, torch.ones_like(i, dtype=torch.float64)], -1)
    d = torch.nn.functional.normalize(d.reshape(-1, 3).double(), dim=-1)
    return torch.tensor([[0.0, 0.0, z]], dtype=torch.float64).expand_as(d).contiguous(), d


CENTER, RADIUS = torch.tensor([0.1, -0.15, 0.2], dtype=torch.float64), 0.5


def sphere_density(points, compact: bool):
    r = (points - CENTER).norm(dim=-1)
    if compact:  # zero outside the ball
        return 30.0 * (1 - (r / RADIUS) ** 2).clamp_min(0)
    return 50.0 * torch.sigmoid((RADIUS - r) / 0.02)


def render(cfg, bits, origins, dirs, compact: bool, step: float):
    out = march_rays(origins, dirs, 0.0, math.inf, bits, cfg, step_size=step, max_samples_per_ray=4096)
    rgbs = 0.5 + 0.5 * torch.tanh(out.positions)  # colour varies with position
    return composite(sphere_density(out.positions, compact), rgbs, out, origins.shape[0]), out.n_samples


def test_skipping_does_not_change_an_image(cpu_arch):
    # outer cube [-2, 2]^3; threshold 1e-4: the tails thresholded away are what an image loses (grazing
    # rays through them lose up to 0.03 of colour at 1e-3, 0.002 at 1e-4), not the marcher
    cfg = OccupancyGridConfig(resolution=32, n_cascades=2, threshold=1e-4)
    step = cfg.min_step
    origins, dirs = camera_rays(20, -2.5)
    dense, n_dense = render(cfg, full(cfg), origins, dirs, True, step)
    assert float(dense.max()) > 0.5 and float(dense.min()) == 0.0  # the sphere and the background
    # 1. a conservative grid (cells meeting the ball) drops only zero-density samples: the same image
    cells = torch.arange(cfg.n_cascades * cfg.n_cells)
    gap = (cell_centers(cfg, cells, dtype=torch.float64) - CENTER).norm(dim=-1)
    half_diag = torch.tensor([math.sqrt(3) / 2 * cfg.cell_size(int(k)) for k in cells // cfg.n_cells])
    ball = pack_bitfield((gap < RADIUS + half_diag).float().view(cfg.n_cascades, -1), cfg)
    image, n = render(cfg, ball, origins, dirs, True, step)
    assert n < 0.3 * n_dense
    assert_close(image, dense, rtol=0, atol=1e-12)
    # 2. a grid learned by instant-ngp's updates (all cells, jittered, optical thickness per step)
    dense, n_dense = render(cfg, full(cfg), origins, dirs, False, step)
    grid, g = torch.zeros((cfg.n_cascades, cfg.n_cells)), torch.Generator().manual_seed(0)
    bits = full(cfg)
    for it in range(4):
        cells = cells_to_update(cfg, bits, it * cfg.update_every, g)
        sigma = sphere_density(sample_in_cells(cfg, cells, g, dtype=torch.float64), False)
        update_occupancy(grid, cells, (sigma * step).float(), cfg)
        bits = pack_bitfield(grid, cfg)
    image, n = render(cfg, bits, origins, dirs, False, step)
    assert n < 0.3 * n_dense
    assert_close(image, dense, rtol=0, atol=5e-3)
    assert float((image - dense).abs().mean()) < 1e-4


def test_bad_inputs(cpu_arch):
    o, d = torch.zeros((2, 3)), torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    bits = full(ONE)
    with pytest.raises(ValueError, match="bitfield"):
        march_rays(o, d, 0.0, 1.0, bits[:, :-1], ONE)
    with pytest.raises(ValueError, match="share float32"):
        march_rays(o, d.double(), 0.0, 1.0, bits, ONE)
    with pytest.raises(ValueError, match=r"\[R, 3\]"):
        march_rays(o[:, :2], d[:, :2], 0.0, 1.0, bits, ONE)
    with pytest.raises(ValueError, match="near"):
        march_rays(o, d, torch.zeros(3), 1.0, bits, ONE)
    with pytest.raises(ValueError, match="cone_angle"):
        march_rays(o, d, 0.0, 1.0, bits, ONE, cone_angle=-0.1)
    with pytest.raises(ValueError, match="max_samples_per_ray"):
        march_rays(o, d, 0.0, 1.0, bits, ONE, max_samples_per_ray=0)
    with pytest.raises(TypeError, match="OccupancyGridConfig"):
        march_rays(o, d, 0.0, 1.0, bits, "grid")


def test_forward_on_every_backend(arch):
    dev = runtime.device()
    cfg, kw = CASES["three-cone"]
    o, d, near, far = random_rays(cfg, 5, dtype=torch.float32)
    bits = random_bits(cfg, 15)
    got = march_rays(o.to(dev), d.to(dev), near.to(dev), far.to(dev), bits.to(dev), cfg, **kw)
    got = MarchOutput(*(x.cpu() for x in (got.ray_offsets, got.ray_indices, got.t_starts, got.t_ends,
                                          got.positions)))
    assert_same_samples(got, ref.march_rays(o, d, near, far, bits, cfg, **kw), atol=1e-5, max_bad_rays=0.02,
                        msg=arch)
