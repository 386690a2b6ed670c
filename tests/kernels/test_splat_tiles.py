"""Tile binning (Taichi + torch sort) against its torch reference: exact ids and ranges, every edge case."""

import math

import pytest
import torch

from ngfx.kernels import runtime
from ngfx.kernels.splat.tiles import map_to_tiles as _map_to_tiles
from ngfx.kernels.splat.tiles import reference

SEEDS = [0, 1, 2]
W, H = 100, 70  # 7 x 5 tiles, the last column and row partial


def map_to_tiles(means2d, radii, depths, *args, **kwargs):
    """The kernel on the backend's device, results back on the CPU."""
    dev = runtime.device()
    out = _map_to_tiles(means2d.to(dev), radii.to(dev), depths.to(dev), *args, **kwargs)
    return type(out)(out.point_ids.cpu(), out.tile_ranges.cpu(), out.tiles_x, out.tiles_y, out.n_intersections)


def random_splats(seed: int, n: int, dtype=torch.float32):
    """Means on and around the image (some far off it), radii 0..40 per axis, depths with exact ties."""
    g = torch.Generator().manual_seed(seed)
    means2d = (torch.rand(n, 2, generator=g, dtype=torch.float64) * 1.4 - 0.2) * torch.tensor([W, H])
    means2d[: n // 20] *= 10  # far off-image
    radii = torch.randint(0, 40, (n, 2), generator=g, dtype=torch.int32)
    radii[n // 20: n // 10, 0] = 0  # culled on one axis only
    depths = torch.rand(n, generator=g, dtype=torch.float64) * 20 + 0.2
    depths[torch.randperm(n, generator=g)[: n // 4]] = 3.0  # many exact ties
    return means2d.to(dtype), radii, depths.to(dtype)


def assert_same(out, ref, msg):
    assert (out.tiles_x, out.tiles_y, out.n_intersections) == (ref.tiles_x, ref.tiles_y, ref.n_intersections), msg
    assert out.point_ids.dtype == torch.int32 and out.tile_ranges.dtype == torch.int32, msg
    assert torch.equal(out.point_ids, ref.point_ids), f"{msg}: point_ids differ"
    assert torch.equal(out.tile_ranges, ref.tile_ranges), f"{msg}: tile_ranges differ"


@pytest.mark.parametrize("seed", SEEDS)
def test_forward_matches_reference(arch, seed):
    means2d, radii, depths = random_splats(seed, 400)
    out = map_to_tiles(means2d, radii, depths, W, H)
    assert_same(out, reference.map_to_tiles(means2d, radii, depths, W, H), f"{arch} seed {seed}")
    counts = out.tile_ranges[:, 1] - out.tile_ranges[:, 0]
    assert out.n_intersections > 1000 and int(counts.sum()) == out.n_intersections, f"seed {seed}"
    assert (counts > 0).all(), f"seed {seed}: every tile should be hit by this scene"


# the last two: 32,767 tiles (the most with int16 tile keys) and 33,800 (int32 keys)
@pytest.mark.parametrize("size", [(100, 70, 16), (16, 16, 16), (33, 17, 8), (151, 217, 1), (1040, 520, 4)])
def test_float64_and_other_grids(cpu_arch, size):
    width, height, tile_size = size
    means2d, radii, depths = random_splats(7, 200, torch.float64)
    means2d *= torch.tensor([width / W, height / H], dtype=torch.float64)
    out = map_to_tiles(means2d, radii, depths, width, height, tile_size=tile_size)
    ref = reference.map_to_tiles(means2d, radii, depths, width, height, tile_size=tile_size)
    assert_same(out, ref, f"{size}")
    assert (out.tiles_x, out.tiles_y) == (math.ceil(width / tile_size), math.ceil(height / tile_size))
    assert out.n_intersections > 0


def tiles_of(tile_map, gauss_id):
    """Sorted tile ids whose list holds `gauss_id`."""
    tiles = [t for t, (s, e) in enumerate(tile_map.tile_ranges.tolist())
             if gauss_id in tile_map.point_ids[s:e].tolist()]
    return sorted(tiles)


def expected_tiles(mx, my, rx, ry, tiles_x, tiles_y, ts=16):
    """The REFERENCE 2.3 rectangle in Python floats, as an independent check of the integer evaluation."""
    if rx <= 0 or ry <= 0:
        return []
    x0, x1 = (min(max(math.floor(v / ts), 0), tiles_x) for v in (mx - rx, mx + rx + ts - 1))
    y0, y1 = (min(max(math.floor(v / ts), 0), tiles_y) for v in (my - ry, my + ry + ts - 1))
    return sorted(ty * tiles_x + tx for ty in range(y0, y1) for tx in range(x0, x1))


def test_edge_cases(cpu_arch):
    """Whole image, borders, off-image, tile-boundary means, zero radii: each Gaussian's tiles by hand."""
    cases = [  # mx, my, rx, ry
        (50.0, 35.0, 500, 500),  # covers every tile
        (-5.0, -5.0, 6, 6),  # reaches into tile (0, 0) from outside the corner
        (W + 3.0, H + 2.5, 4, 4),  # reaches the partial last tile from beyond the far corner
        (-100.0, 30.0, 10, 10),  # fully off-image on the left
        (50.0, 1e9, 10, 10),  # far below
        (32.0, 16.0, 16, 1),  # edges exactly on tile boundaries
        (31.99, 15.99, 1, 1),
        (40.0, 40.0, 0, 0),  # culled
        (40.0, 40.0, 0, 5),  # zero on one axis: culled too
        (99.5, 69.5, 1, 1),  # the last pixel
    ]
    means2d = torch.tensor([c[:2] for c in cases], dtype=torch.float32)
    radii = torch.tensor([c[2:] for c in cases], dtype=torch.int32)
    depths = torch.arange(len(cases), dtype=torch.float32) + 1.0
    out = map_to_tiles(means2d, radii, depths, W, H)
    assert_same(out, reference.map_to_tiles(means2d, radii, depths, W, H), "edge cases")
    for i, (mx, my, rx, ry) in enumerate(cases):
        assert tiles_of(out, i) == expected_tiles(mx, my, rx, ry, out.tiles_x, out.tiles_y), f"case {i}"
    assert len(tiles_of(out, 0)) == 35 and tiles_of(out, 1) == [0] and tiles_of(out, 2) == [34]
    assert tiles_of(out, 5) == [1, 2, 8, 9] and tiles_of(out, 6) == [1]


def test_depth_order_and_ties(cpu_arch):
    """Within a tile: nearest first; equal depths by Gaussian id; zero and negative depths do not crash."""
    depths = torch.tensor([5.0, 2.0, 5.0, 1.0, 2.0, 5.0, 0.0, -1.0, 1e-30, 3e38])
    n = depths.numel()
    means2d = torch.full((n, 2), 8.0)
    radii = torch.full((n, 2), 3, dtype=torch.int32)  # tile 0 only
    for dtype in (torch.float32, torch.float64):
        out = map_to_tiles(means2d.to(dtype), radii, depths.to(dtype), W, H)
        assert_same(out, reference.map_to_tiles(means2d.to(dtype), radii, depths.to(dtype), W, H), f"{dtype}")
        # Non-negative depths ascending (ties by id); the negative one last (its sign bit sorts high).
        assert out.point_ids.tolist() == [6, 8, 3, 1, 4, 0, 2, 5, 9, 7], out.point_ids.tolist()
        assert out.tile_ranges[0].tolist() == [0, n] and int(out.tile_ranges[1:].abs().sum()) == 0


def test_ties_follow_ids_across_many_tiles(cpu_arch):
    """Many Gaussians with one depth spanning many tiles: each tile lists exactly its ids, ascending."""
    g = torch.Generator().manual_seed(3)
    n = 300
    means2d = torch.rand(n, 2, generator=g) * torch.tensor([W, H])
    radii = torch.randint(1, 30, (n, 2), generator=g, dtype=torch.int32)
    out = map_to_tiles(means2d, radii, torch.full((n,), 2.0), W, H)
    assert out.n_intersections > n
    for s, e in out.tile_ranges.tolist():
        run = out.point_ids[s:e]
        assert torch.equal(run, run.sort().values), (s, e)


def test_empty_inputs(cpu_arch):
    """N = 0 and all-culled scenes give no intersections and all-empty ranges of the right shape."""
    empty = map_to_tiles(torch.zeros(0, 2), torch.zeros(0, 2, dtype=torch.int32), torch.zeros(0), W, H)
    culled = map_to_tiles(torch.full((5, 2), 20.0), torch.zeros(5, 2, dtype=torch.int32), torch.ones(5), W, H)
    offscreen = map_to_tiles(torch.full((5, 2), -50.0), torch.full((5, 2), 10, dtype=torch.int32), torch.ones(5), W, H)
    for out in (empty, culled, offscreen):
        assert out.n_intersections == 0 and out.point_ids.shape == (0,)
        assert out.tile_ranges.shape == (35, 2) and int(out.tile_ranges.abs().sum()) == 0


def test_inputs_requiring_grad_are_left_alone(cpu_arch):
    """Projection outputs require grad; binning must neither fail on them nor give them a .grad."""
    means2d, radii, depths = random_splats(4, 50)
    means2d.requires_grad_(True)
    depths.requires_grad_(True)
    out = map_to_tiles(means2d, radii, depths, W, H)
    assert out.n_intersections > 0 and means2d.grad is None and depths.grad is None
