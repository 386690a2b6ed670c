"""Pure-torch reference of tile binning: same signature and outputs as `ngfx.kernels.splat.tiles.map_to_tiles`.

Method (REFERENCE 2.3, per-axis radii): Gaussian i covers tiles tx in [floor((mx - rx) / ts),
floor((mx + rx + ts - 1) / ts)) and likewise ty, clamped to [0, tiles_x] x [0, tiles_y]; radii <= 0 on
either axis cull it. The floors are evaluated exactly in integers (floor(x / n) = floor(floor(x) / n) for
an integer n > 0). Each (tile, Gaussian) pair gets key = tile_id << 32 | float32 bits of depth (masked, so
positive depths order like their values) and the pairs are sorted by (key, Gaussian id).
"""

import torch

from ngfx.kernels.splat.tiles.kernels import COORD_LIMIT
from ngfx.kernels.splat.tiles.op import TileMap, tile_grid

__all__ = ["map_to_tiles", "tile_rects"]


def _axis_range(m: torch.Tensor, r: torch.Tensor, tile_size: int, n_tiles: int):
    """Tiles [lo, hi) per Gaussian on one axis, clamped to [0, n_tiles]."""
    fm = torch.floor(m.clamp(-COORD_LIMIT, COORD_LIMIT)).to(torch.int64)
    lo = torch.div(fm - r, tile_size, rounding_mode="floor").clamp(0, n_tiles)
    hi = torch.div(fm + r + tile_size - 1, tile_size, rounding_mode="floor").clamp(0, n_tiles)
    return lo, hi


def tile_rects(means2d, radii, width: int, height: int, tile_size: int = 16) -> torch.Tensor:
    """[N, 4] int64 tile rectangles (x0, y0, x1, y1), half-open; culled or empty ones have zero area."""
    tiles_x, tiles_y = tile_grid(width, height, tile_size)
    r = radii.to(torch.int64)
    x0, x1 = _axis_range(means2d[:, 0], r[:, 0], tile_size, tiles_x)
    y0, y1 = _axis_range(means2d[:, 1], r[:, 1], tile_size, tiles_y)
    culled = (r <= 0).any(dim=1)
    x1 = torch.where(culled, x0, x1)
    return torch.stack([x0, y0, x1, y1], dim=1)


def map_to_tiles(means2d, radii, depths, width: int, height: int, *, tile_size: int = 16,
                 rects=None) -> TileMap:
    """Sorted (tile, depth, id) intersections and per-tile [start, end) ranges, by brute force.
    `rects` (the kernel path's precomputed rectangles) is accepted and ignored: they are recomputed here."""
    del rects
    tiles_x, tiles_y = tile_grid(width, height, tile_size)
    dev = means2d.device
    rects = tile_rects(means2d, radii, width, height, tile_size).cpu()
    depth_bits = depths.to(torch.float32).cpu().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    x0, y0, x1, y1 = rects.unbind(1)
    counts = (x1 - x0) * (y1 - y0)
    gauss_ids = torch.repeat_interleave(torch.arange(rects.shape[0]), counts)
    local = torch.arange(gauss_ids.numel()) - (torch.cumsum(counts, 0) - counts)[gauss_ids]
    w = (x1 - x0)[gauss_ids]
    tile_ids = (y0[gauss_ids] + local // w) * tiles_x + x0[gauss_ids] + local % w
    keys = (tile_ids << 32) | depth_bits[gauss_ids]
    # Sort by (key, id) explicitly with two stable passes (the kernel gets the id order from its layout).
    by_id = torch.argsort(gauss_ids, stable=True)
    order = by_id[torch.argsort(keys[by_id], stable=True)]
    point_ids = gauss_ids[order]
    per_tile = torch.bincount(tile_ids, minlength=tiles_x * tiles_y)
    ends = torch.cumsum(per_tile, 0)
    ranges = torch.stack([ends - per_tile, ends], dim=1)
    ranges[per_tile == 0] = 0
    return TileMap(point_ids=point_ids.to(torch.int32).to(dev), tile_ranges=ranges.to(torch.int32).to(dev),
                   tiles_x=tiles_x, tiles_y=tiles_y, n_intersections=int(point_ids.numel()))
