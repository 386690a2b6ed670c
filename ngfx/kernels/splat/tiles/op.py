"""Public tile binning: `map_to_tiles` (Taichi kernels + torch.cumsum / torch.sort), and `TileMap`.

Conventions: pixel coordinates with pixel centres at (i + 0.5, j + 0.5); tiles of tile_size x tile_size
pixels, tile_id = ty * tiles_x + tx (row-major); the last row / column of tiles may be partial.
Nothing here is differentiable (integer outputs only).
"""

import dataclasses

import torch

from ngfx.kernels import runtime
from ngfx.kernels.splat.tiles.kernels import make_tile_key_kernel, make_tiles_kernels

_SIGN_BIT = -(2**31)  # int32 with only the sign bit set

__all__ = ["TileMap", "map_to_tiles", "tile_grid"]


@dataclasses.dataclass(frozen=True)
class TileMap:
    """Sorted (tile, depth) intersections of Gaussians with screen tiles.

    point_ids:       [P] int32 Gaussian ids, sorted by tile id, then by float32 depth (nearest first), then
                     by Gaussian id (equal depths).
    tile_ranges:     [tiles_y * tiles_x, 2] int32 [start, end) of each tile's run in point_ids ([0, 0] when
                     the tile is empty); tile_id = ty * tiles_x + tx.
    tiles_x/tiles_y: the tile grid, ceil(width / tile_size) x ceil(height / tile_size).
    n_intersections: P, as a Python int.
    """

    point_ids: torch.Tensor
    tile_ranges: torch.Tensor
    tiles_x: int
    tiles_y: int
    n_intersections: int


def tile_grid(width: int, height: int, tile_size: int = 16) -> tuple[int, int]:
    """(tiles_x, tiles_y) covering a width x height image, partial tiles included."""
    return -(-width // tile_size), -(-height // tile_size)


def _check(means2d, radii, depths, width, height, tile_size):
    assert means2d.ndim == 2 and means2d.shape[1] == 2, means2d.shape
    assert radii.shape == means2d.shape, (radii.shape, means2d.shape)
    assert depths.shape == means2d.shape[:1], (depths.shape, means2d.shape)
    assert means2d.dtype in (torch.float32, torch.float64), means2d.dtype
    assert depths.dtype == means2d.dtype, (depths.dtype, means2d.dtype)
    assert width > 0 and height > 0 and tile_size > 0, (width, height, tile_size)
    tiles_x, tiles_y = tile_grid(width, height, tile_size)
    assert tiles_x * tiles_y < 2**31, (tiles_x, tiles_y)  # tile ids live in the top 32 bits of the keys
    return tiles_x, tiles_y


def map_to_tiles(means2d: torch.Tensor, radii: torch.Tensor, depths: torch.Tensor, width: int, height: int, *,
                 tile_size: int = 16, rects: torch.Tensor | None = None) -> TileMap:
    """Bin projected Gaussians into screen tiles and sort each tile's list front to back (REFERENCE 2.3).

    means2d: [N, 2] pixels; radii: [N, 2] int (pixels per axis; a Gaussian with a radius <= 0 on either
    axis is culled); depths: [N] camera z, same float dtype as means2d. A Gaussian covers the tiles
    [floor((m - r) / ts), floor((m + r + ts - 1) / ts)) per axis, clamped to the grid. Sort keys use the
    float32 bits of the depth, which order like the values for positive depths; negative depths (never
    produced by projection) sort after every positive one, without error. Means must be finite where the
    radii are positive. One host read (the intersection count, to allocate) per call.
    rects: [N, 5] int32 (x0, y0, x1, y1, count) already computed for these means and radii with
    `kernels.make_tile_funcs` (the fused preprocess writes them), which skips the counting pass.
    """
    runtime.ensure_init()
    tiles_x, tiles_y = _check(means2d, radii, depths, width, height, tile_size)
    dev = means2d.device
    count_tiles = make_tiles_kernels(
        "f32" if means2d.dtype == torch.float32 else "f64", runtime.generation())
    n = means2d.shape[0]
    ranges = torch.zeros((tiles_x * tiles_y, 2), dtype=torch.int32, device=dev)
    total = 0
    if n:
        if rects is None:
            rects = torch.empty((n, 5), dtype=torch.int32, device=dev)
            # Detached: Taichi gives every tensor argument that requires grad a zero .grad (an allocation, and
            # a side effect on the caller's tensors), and tile binning is not differentiable anyway.
            count_tiles(means2d.detach().contiguous(), radii.to(torch.int32).contiguous(), tile_size, tiles_x,
                        tiles_y, rects)
        assert rects.shape == (n, 5) and rects.dtype == torch.int32, (rects.shape, rects.dtype)
        # Nearest first: a stable sort of the float32 depth bits with the sign bit flipped, which orders like
        # their unsigned value (positive depths like the depths; negative ones after them, never produced).
        depth_keys = depths.detach().to(torch.float32).view(torch.int32) ^ _SIGN_BIT
        by_depth = torch.sort(depth_keys, stable=True)[1]
        ends = torch.cumsum(rects[:, 4][by_depth], 0, dtype=torch.int64)
        total = int(ends[-1])  # the one host read: the size of the key buffer
    assert total < 2**31, total  # point_ids and tile_ranges are int32
    if not total:
        return TileMap(point_ids=torch.empty((0,), dtype=torch.int32, device=dev), tile_ranges=ranges,
                       tiles_x=tiles_x, tiles_y=tiles_y, n_intersections=0)
    # int16 needs 16-bit storage in shaders: kept to the LLVM backends (cpu, cuda)
    small = tiles_x * tiles_y < 2**15 and runtime.arch() in ("cpu", "cuda")
    key_dtype = torch.int16 if small else torch.int32
    keys = torch.empty((total,), dtype=key_dtype, device=dev)
    ids = torch.empty((total,), dtype=torch.int32, device=dev)
    write_tile_keys = make_tile_key_kernel("i16" if key_dtype == torch.int16 else "i32", runtime.generation())
    write_tile_keys(rects, by_depth, ends, tiles_x, keys, ids)
    # Stable: within a tile the keys were written nearest first (equal depths in id order) and stay so. A
    # radix sort of 16 (or 32) bits where one (tile, depth) key needs 64.
    sorted_tiles, order = torch.sort(keys, stable=True)
    # Per-tile [start, end) by binary search of the sorted tile ids: a few asynchronous torch ops, cheaper than
    # a Taichi launch's host cost (tens of microseconds on CUDA). Empty tiles read (0, 0).
    edges = torch.searchsorted(sorted_tiles, torch.arange(tiles_x * tiles_y + 1, device=dev,
                                                          dtype=sorted_tiles.dtype))
    ranges = torch.stack([edges[:-1], edges[1:]], dim=1).to(torch.int32)
    ranges = ranges * (ranges[:, 1:] > ranges[:, :1])
    return TileMap(point_ids=ids[order], tile_ranges=ranges, tiles_x=tiles_x, tiles_y=tiles_y,
                   n_intersections=total)
