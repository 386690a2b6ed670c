"""Taichi kernels of the occupancy grid (config.py has the layout, reference.py the torch twin).

`update`: one launch of two passes (Taichi runs a kernel's top-level loops in order): every cell that is
not excluded (value >= 0) is multiplied by the decay, then each sample raises its cell with an atomic max.
Max is order-independent, so repeated cells give the same grid whatever the thread order; an excluded
cell (negative, instant-ngp's cells no training camera sees) is never read as a target.
`pack`: one thread per byte compares eight cells with the threshold (a [1] tensor computed in torch, so
no host read) and writes the byte, bit j = cell 8 b + j. Grids are flattened to [C * res^3].
"""

import functools
import types

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast

__all__ = ["make_occupancy_kernels"]


@functools.cache
def make_occupancy_kernels(generation: int):
    """`update` and `pack` for float32 grids (shapes come from the tensors: no config in the key)."""
    del generation
    ti = runtime.taichi()
    arr = ti.types.ndarray

    @ti.kernel
    def update(grid: arr(ti.f32, ndim=1),  # [C * res^3] in/out: density per cell, < 0 = excluded
               cells: arr(ti.i64, ndim=1),  # [N] flat cell indices in [0, C * res^3)
               values: arr(ti.f32, ndim=1),  # [N] new density samples
               decay: ti.f32):
        for i in range(grid.shape[0]):
            if grid[i] >= 0:
                grid[i] = decay * grid[i]
        for j in range(cells.shape[0]):
            c = cells[j]
            if grid[c] >= 0:  # no sample turns an excluded cell into a live one
                ti.atomic_max(grid[c], values[j])

    @ti.kernel
    def pack(grid: arr(ti.f32, ndim=1),  # [C * res^3] density per cell
             threshold: arr(ti.f32, ndim=1),  # [1] occupied means grid > threshold[0]
             bits: arr(ti.u8, ndim=1)):  # [C * res^3 / 8] out
        for b in range(bits.shape[0]):
            thr = threshold[0]
            byte = 0
            for j in ti.static(range(8)):
                if grid[8 * b + j] > thr:
                    byte |= 1 << j
            bits[b] = ti.cast(byte, ti.u8)

    return types.SimpleNamespace(update=fast(update), pack=fast(pack))
