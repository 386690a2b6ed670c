"""Taichi kernels of tile binning (see reference.py for the method and conventions, REFERENCE 2.3).

Two parallel passes around torch calls (cumsum; sort; searchsorted for the per-tile ranges in op.py), each
with few tensor arguments:
1. `count_tiles`: per Gaussian, its tile rectangle and tile count, packed in one [N, 5] int32 row
   (x0, y0, x1, y1, count) so the rectangle is computed once and the key pass reads one tensor.
2. `write_tile_keys`: the Gaussians come in depth order (a stable sort of N 32-bit depth keys in op.py),
   and each writes one key per covered tile, key = tile_id (int16 when the grid has fewer than 2^15 tiles,
   else int32), row-major over its rectangle from its offset in that order; the value is the Gaussian id.
   One stable sort of the tile ids (16 or 32 bits, where one tile_id << 32 | depth key needs 64) then leaves
   each tile's run in depth order, equal depths in id order.
No atomics anywhere (lavapipe drops atomics inside serial inner loops, see the trimesh kernels).
"""

import functools

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast

__all__ = ["COORD_LIMIT", "make_tile_funcs", "make_tile_key_kernel", "make_tiles_kernels"]

# Means are clamped to +-COORD_LIMIT pixels before the integer rectangle maths, so it runs in int64
# without overflow for any finite input; an image is far smaller, so the clamp never changes a rectangle.
COORD_LIMIT = float(1 << 40)


@functools.cache
def make_tile_funcs(dtype_name: str):
    """`rect_of(mean2d, radius, tile_size, tiles_x, tiles_y) -> (x0, y0, x1, y1, count)` as a ti.func, shared
    with the fused preprocess kernel (which writes the rectangles itself and saves the count pass)."""
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    ivec5 = ti.types.vector(5, ti.i32)

    @ti.func
    def axis_range(m: dt, r: ti.i32, tile_size: ti.i32, n_tiles: ti.i32):
        """Tiles [lo, hi) on one axis: [floor((m - r) / ts), floor((m + r + ts - 1) / ts)) clamped to
        [0, n_tiles], evaluated exactly as floor(floor(m) +- ...) / ts in integers (floor(x / n) equals
        floor(floor(x) / n) for an integer n > 0), so no float rounding can move a tile boundary."""
        fm = ti.cast(ti.floor(ti.min(ti.max(m, -COORD_LIMIT), COORD_LIMIT)), ti.i64)
        limit = ti.cast(n_tiles, ti.i64) * tile_size
        # Numerators clamped to [0, n_tiles * ts] first: every division is of non-negative integers.
        lo = ti.min(ti.max(fm - r, 0), limit) // tile_size
        hi = ti.min(ti.max(fm + r + tile_size - 1, 0), limit) // tile_size
        return ti.cast(lo, ti.i32), ti.cast(hi, ti.i32)

    @ti.func
    def rect_of(mean2d, radius, tile_size: ti.i32, tiles_x: ti.i32, tiles_y: ti.i32):
        x0, x1 = axis_range(mean2d[0], radius[0], tile_size, tiles_x)
        y0, y1 = axis_range(mean2d[1], radius[1], tile_size, tiles_y)
        count = ti.max(x1 - x0, 0) * ti.max(y1 - y0, 0)
        if radius[0] <= 0 or radius[1] <= 0:
            count = 0
        return ivec5(x0, y0, x1, y1, count)

    return rect_of


@functools.cache
def make_tiles_kernels(dtype_name: str, generation: int):
    """`count_tiles` for float32 or float64 ('f32' / 'f64') means."""
    del generation
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    vec2 = ti.types.vector(2, dt)
    ivec5 = ti.types.vector(5, ti.i32)
    rect_of = make_tile_funcs(dtype_name)

    @ti.kernel
    def count_tiles(means2d: ti.types.ndarray(vec2, ndim=1),  # [N] pixels, centres at +0.5
                    radii: ti.types.ndarray(ti.math.ivec2, ndim=1),  # [N] pixels per axis, 0 = culled
                    tile_size: ti.i32, tiles_x: ti.i32, tiles_y: ti.i32,
                    rects: ti.types.ndarray(ivec5, ndim=1)):  # [N] out: x0, y0, x1, y1, tile count
        for i in range(means2d.shape[0]):
            rects[i] = rect_of(means2d[i], radii[i], tile_size, tiles_x, tiles_y)

    return fast(count_tiles)


@functools.cache
def make_tile_key_kernel(key_dtype_name: str, generation: int):
    """`write_tile_keys` (module docstring) writing 'i16' or 'i32' tile ids."""
    del generation
    ti = runtime.taichi()
    kt = getattr(ti, key_dtype_name)
    ivec5 = ti.types.vector(5, ti.i32)

    @ti.kernel
    def write_tile_keys(rects: ti.types.ndarray(ivec5, ndim=1),  # [N] tile rectangles and counts
                        order: ti.types.ndarray(ti.i64, ndim=1),  # [N] Gaussian ids, nearest first
                        ends: ti.types.ndarray(ti.i64, ndim=1),  # [N] inclusive prefix sum of counts in that order
                        tiles_x: ti.i32,
                        keys: ti.types.ndarray(kt, ndim=1),  # [P] out: tile id
                        ids: ti.types.ndarray(ti.i32, ndim=1)):  # [P] out: Gaussian id of each key
        for i in range(order.shape[0]):
            g = ti.cast(order[i], ti.i32)
            rc = rects[g]
            start = ends[i] - rc[4]
            width = rc[2] - rc[0]
            for t in range(rc[4]):
                keys[start + t] = ti.cast((rc[1] + t // width) * tiles_x + rc[0] + t % width, kt)
                ids[start + t] = g

    return fast(write_tile_keys)
