"""The occupancy grid: config, update plan, cell sampling, update and bitfield kernels against the reference."""

import math

import pytest
import torch

from ngfx.kernels import runtime
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
from ngfx.kernels.volume.occupancy import reference as ref
from tests.helpers import assert_close

CFG = OccupancyGridConfig(resolution=8, n_cascades=3, center=(0.25, -0.5, 1.0), half_size=0.75)


def random_grid(seed: int, cfg: OccupancyGridConfig = CFG, scale: float = 0.02) -> torch.Tensor:
    """Densities in [0, scale) with a few excluded (negative) cells and some exact zeros."""
    g = torch.Generator().manual_seed(seed)
    grid = torch.rand((cfg.n_cascades, cfg.n_cells), generator=g) * scale
    grid[torch.rand(grid.shape, generator=g) < 0.05] = -1.0
    grid[torch.rand(grid.shape, generator=g) < 0.2] = 0.0
    return grid


def test_config_geometry_and_validation():
    cfg = OccupancyGridConfig()
    assert (cfg.resolution, cfg.n_cascades, cfg.decay, cfg.threshold, cfg.warmup_steps) == (128, 1, 0.95, 0.01, 256)
    assert cfg.min_step == pytest.approx(math.sqrt(3) * 2 / 1024)  # sqrt(3)/1024 of cascade 0's edge
    big = OccupancyGridConfig(n_cascades=4, half_size=0.5)  # instant-ngp's unit cube, aabb_scale 8
    assert big.max_step == pytest.approx(math.sqrt(3) * 2**3 / 128)  # REFERENCE 4.4's cap
    assert CFG.cell_size(2) == pytest.approx(4 * 1.5 / 8) and CFG.cascade_half_size(1) == 1.5
    for bad in ({"resolution": 6}, {"n_cascades": 9}, {"n_cascades": 0}, {"decay": 0.0},
                {"half_size": -1.0}, {"threshold": -0.1}, {"center": (0.0, 1.0)}):
        with pytest.raises(ValueError, match="OccupancyGridConfig"):
            OccupancyGridConfig(**bad)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_update_matches_reference_and_rules(cpu_arch, seed):
    grid = random_grid(seed)
    g = torch.Generator().manual_seed(100 + seed)
    cells = torch.randint(grid.numel(), (500,), generator=g)
    cells = torch.cat([cells, cells[:50]])  # repeats: the largest sample of a cell wins
    values = torch.rand(cells.shape, generator=g) * 0.03
    got = update_occupancy(grid.clone(), cells, values, CFG)
    want = ref.update_occupancy(grid.clone(), cells, values, CFG)
    assert torch.equal(got, want), f"seed {seed}"
    # the rules, cell by cell (module docstring of reference.py)
    old, new = grid.view(-1), got.view(-1)
    for c in range(0, grid.numel(), 7):
        hits = values[cells == c]
        if old[c] < 0:
            expected = float(old[c])
        else:
            expected = max(0.95 * float(old[c]), float(hits.max()) if hits.numel() else -math.inf)
        assert float(new[c]) == pytest.approx(expected, rel=1e-6), f"seed {seed}, cell {c}"
    assert bool((new != old).any()) and bool(((new == old) & (old < 0)).any())


def test_update_decays_every_live_cell_and_runs_in_place(cpu_arch):
    grid = random_grid(3)
    before = grid.clone()
    cells = torch.tensor([5, 5, 900], dtype=torch.int64)
    out = update_occupancy(grid, cells, torch.tensor([0.5, 2.0, 0.0]), CFG)
    assert out.data_ptr() == grid.data_ptr()
    flat, old = grid.view(-1), before.view(-1)
    untouched = torch.ones_like(flat, dtype=torch.bool)
    untouched[cells] = False
    live = untouched & (old >= 0)
    assert_close(flat[live], 0.95 * old[live], rtol=1e-7, atol=0)
    assert torch.equal(flat[old < 0], old[old < 0])
    assert float(flat[5]) == 2.0  # max of its two samples
    # no samples at all: a pure decay step
    update_occupancy(grid, torch.zeros(0, dtype=torch.int64), torch.zeros(0), CFG)
    assert_close(flat[live], 0.95**2 * old[live], rtol=1e-6, atol=0)


@pytest.mark.parametrize("scale,expect_mean", [(0.004, True), (0.5, False)])
def test_pack_threshold_is_min_of_mean_and_threshold(cpu_arch, scale, expect_mean):
    grid = random_grid(4, scale=scale)
    bits = pack_bitfield(grid, CFG)
    assert torch.equal(bits, ref.pack_bitfield(grid, CFG))
    mean = float(grid[0].clamp_min(0).mean())  # cascade 0 only, excluded cells as 0
    thr = min(mean, 0.01)
    assert (thr == mean) == expect_mean
    assert torch.equal(unpack_bitfield(bits, CFG), grid > thr)
    occupied = unpack_bitfield(bits, CFG)
    assert 0.05 < float(occupied.float().mean()) < 0.95  # neither empty nor full


def test_bit_order_and_cell_geometry(cpu_arch):
    res = CFG.resolution
    grid = torch.zeros((CFG.n_cascades, CFG.n_cells))
    x, y, z, k = 3, 5, 6, 2
    lin = x + res * (y + res * z)
    grid[k, lin] = 1.0
    bits = pack_bitfield(grid, CFG)
    assert int(bits.sum()) == 1 << (lin % 8) and int(bits[k, lin // 8]) == 1 << (lin % 8)
    center = cell_centers(CFG, torch.tensor([k * CFG.n_cells + lin]))[0]
    edge, h = CFG.cell_size(k), CFG.cascade_half_size(k)
    expected = torch.tensor([c - h + (i + 0.5) * edge for c, i in zip(CFG.center, (x, y, z))])
    assert_close(center, expected, rtol=0, atol=1e-6)


def test_sampled_points_lie_in_their_cells():
    g = torch.Generator().manual_seed(5)
    res, quarter = CFG.resolution, CFG.resolution // 4
    cells = torch.randint(CFG.n_cascades * CFG.n_cells, (400,), generator=g)
    linear = cells % CFG.n_cells
    xyz = torch.stack([linear % res, (linear // res) % res, linear // res**2], -1)
    inner = ((xyz >= quarter) & (xyz < res - quarter)).all(-1) & (cells >= CFG.n_cells)
    cells = cells[~inner]  # inner cells of coarse cascades belong to the finer cascade (config.py)
    points = sample_in_cells(CFG, cells, torch.Generator().manual_seed(11), dtype=torch.float64)
    assert torch.equal(point_cells(CFG, points), cells)
    centers = cell_centers(CFG, cells, dtype=torch.float64)
    assert torch.equal(point_cells(CFG, centers), cells)
    assert float((points - centers).abs().max()) > 0.4 * CFG.cell_size(0)  # jittered, not the centres
    again = sample_in_cells(CFG, cells, torch.Generator().manual_seed(11), dtype=torch.float64)
    assert torch.equal(points, again)  # seeded


def test_cells_to_update_plan(cpu_arch):
    grid = random_grid(6)
    bits = pack_bitfield(grid, CFG)
    g = torch.Generator().manual_seed(7)
    total, quarter = CFG.n_cascades * CFG.n_cells, CFG.n_cells // 4
    assert torch.equal(cells_to_update(CFG, bits, 0, g), torch.arange(total))
    assert torch.equal(cells_to_update(CFG, bits, 255, g), torch.arange(total))
    cells = cells_to_update(CFG, bits, 256, g)
    assert cells.dtype == torch.int64 and int(cells.min()) >= 0 and int(cells.max()) < total
    occupied = unpack_bitfield(bits, CFG).view(-1)
    per_cascade_occupied = unpack_bitfield(bits, CFG).sum(1)
    expected = sum(quarter + min(quarter, int(n)) for n in per_cascade_occupied)
    assert cells.numel() == expected
    # the occupied half really is occupied: more occupied cells than the uniform draws alone give
    assert float(occupied[cells].float().mean()) > float(occupied.float().mean()) + 0.1
    again = cells_to_update(CFG, bits, 256, torch.Generator().manual_seed(7))
    g2 = torch.Generator().manual_seed(7)
    cells_to_update(CFG, bits, 0, g2)  # the warm-up plan draws nothing
    assert torch.equal(cells_to_update(CFG, bits, 300, g2), again)
    empty = torch.zeros_like(bits)
    assert cells_to_update(CFG, empty, 400, g).numel() == CFG.n_cascades * quarter


def test_bad_inputs(cpu_arch):
    grid = random_grid(8)
    cells, values = torch.tensor([0, 1]), torch.tensor([0.1, 0.2])
    with pytest.raises(ValueError, match="cell_indices must lie"):
        update_occupancy(grid, torch.tensor([0, grid.numel()]), values, CFG)
    with pytest.raises(ValueError, match="density_grid must be float32"):
        update_occupancy(grid[:1], cells, values, CFG)
    with pytest.raises(ValueError, match="new_densities"):
        update_occupancy(grid, cells, values[:1], CFG)
    with pytest.raises(ValueError, match="int64"):
        update_occupancy(grid, cells.int(), values, CFG)
    with pytest.raises(TypeError, match="OccupancyGridConfig"):
        pack_bitfield(grid, {"resolution": 8})


def test_forward_on_every_backend(arch):
    dev = runtime.device()
    grid = random_grid(9)
    g = torch.Generator().manual_seed(10)
    cells = torch.randint(grid.numel(), (300,), generator=g)
    values = torch.rand(cells.shape, generator=g) * 0.03
    got = update_occupancy(grid.clone().to(dev), cells.to(dev), values.to(dev), CFG).cpu()
    want = ref.update_occupancy(grid.clone(), cells, values, CFG)
    assert torch.equal(got, want), arch
    assert torch.equal(pack_bitfield(got.to(dev), CFG).cpu(), ref.pack_bitfield(want, CFG)), arch
