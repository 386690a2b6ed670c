"""Taichi kernel of ray marching through the occupancy grid (reference.py defines the samples).

One kernel, launched twice (op.py): with fill = 0 it counts each ray's samples into ray_offsets[r + 1];
torch turns the counts into offsets (a cumsum); with fill = 1 the same walk writes each sample at
ray_offsets[r] + n. Every ray writes its own slots, so the output is packed without atomics and is the
same whatever the thread order. One thread per ray; its loop state:

    t        the current lattice point (start of the next candidate sample)
    t_hi     the end of the ray's clipped interval
    n        samples emitted so far (<= max_samples)

At each point the midpoint's cell (finest containing cascade) is looked up once. Occupied: emit [t, t +
dt] and step. Empty: the exact skip of the finest cascade (not instant-ngp's coarser DDA): compute where
the ray leaves that cell (slab test on its faces) and walk the lattice, without lookups, to the first
point whose midpoint lies past it. Walking instead of jumping keeps the lattice of reference.py's step 2
exact, cone stepping included. Grid geometry is compile-time (ti.static from the config); step sizes and
the cap are runtime scalars.
"""

import functools

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast

__all__ = ["make_march_kernels"]


@functools.cache
def make_march_kernels(resolution: int, n_cascades: int, center: tuple, half_size: float, dtype_name: str,
                       generation: int):
    """`march` for float32 or float64 ('f32' / 'f64') rays and the grid layout of config.py."""
    del generation
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    vec3 = ti.types.vector(3, dt)
    arr = ti.types.ndarray
    res, n_cells = resolution, resolution**3
    halves = [half_size * 2.0**k for k in range(n_cascades)]  # python floats, rounded to dt where used
    outer = halves[-1]

    @ti.func
    def clip(o, d, near: dt, far: dt):
        """[near, far] cut to the outer cube by the slab test, and whether the ray meets it at all (a zero
        direction never does: nothing would bound its walk)."""
        t0, t1, hit, moving = near, far, 1, 0
        for a in ti.static(range(3)):
            lo, hi = dt(center[a] - outer), dt(center[a] + outer)
            if d[a] != 0:
                ta, tb = (lo - o[a]) / d[a], (hi - o[a]) / d[a]
                t0, t1, moving = ti.max(t0, ti.min(ta, tb)), ti.min(t1, ti.max(ta, tb)), 1
            elif o[a] < lo or o[a] > hi:
                hit = 0
        return t0, t1, hit * moving

    @ti.func
    def locate(p):
        """(flat cell index, the cell's lo corner, its edge) in the finest cascade containing p."""
        m = ti.max(ti.abs(p[0] - dt(center[0])), ti.abs(p[1] - dt(center[1])), ti.abs(p[2] - dt(center[2])))
        h = outer
        level, lo = n_cascades - 1, vec3(center[0] - h, center[1] - h, center[2] - h)
        inv, edge = dt(res / (2.0 * h)), dt(2.0 * h / res)
        for k in ti.static(range(n_cascades - 2, -1, -1)):  # finest last: the finest containing one wins
            if m < dt(halves[k]):
                hk = halves[k]
                level, lo = k, vec3(center[0] - hk, center[1] - hk, center[2] - hk)
                inv, edge = dt(res / (2.0 * hk)), dt(2.0 * hk / res)
        ijk = ti.cast(ti.min(ti.max(ti.floor((p - lo) * inv), 0), res - 1), ti.i32)
        return level * n_cells + ijk[0] + res * (ijk[1] + res * ijk[2]), lo + ti.cast(ijk, dt) * edge, edge

    @ti.func
    def cell_exit(o, d, corner, edge, t_hi: dt):
        """min(t_hi, where the ray o + t d leaves the cell [corner, corner + edge)^3)."""
        t_out = t_hi
        for a in ti.static(range(3)):
            if d[a] > 0:
                t_out = ti.min(t_out, (corner[a] + edge - o[a]) / d[a])
            elif d[a] < 0:
                t_out = ti.min(t_out, (corner[a] - o[a]) / d[a])
        return t_out

    @ti.func
    def step_at(t, step_size: dt, max_step: dt, cone_angle: dt):
        return ti.min(ti.max(t * cone_angle, step_size), max_step)

    @ti.kernel
    def march(origins: arr(vec3, ndim=1), directions: arr(vec3, ndim=1),  # [R] world, unit directions
              near: arr(dt, ndim=1), far: arr(dt, ndim=1),  # [R]
              bitfield: arr(ti.u8, ndim=1),  # [C * res^3 / 8] bit j of byte b = flat cell 8 b + j
              step_size: dt, max_step: dt, cone_angle: dt, max_samples: ti.i32,
              fill: ti.i32,  # 0: count into ray_offsets[r + 1]; 1: write samples from ray_offsets[r]
              ray_offsets: arr(ti.i32, ndim=1),  # [R + 1]
              ray_indices: arr(ti.i64, ndim=1),  # [S] out (fill), else [1]
              t_starts: arr(dt, ndim=1), t_ends: arr(dt, ndim=1),  # [S] out (fill), else [1]
              positions: arr(vec3, ndim=1)):  # [S] out (fill): midpoints, else [1]
        for r in range(origins.shape[0]):
            o, d = origins[r], directions[r]
            t, t_hi, hit = clip(o, d, near[r], far[r])
            base = 0
            if fill:
                base = ray_offsets[r]
            n = 0
            while hit and t < t_hi and n < max_samples:
                dt_here = step_at(t, step_size, max_step, cone_angle)
                mid = t + 0.5 * dt_here
                if mid >= t_hi:
                    break
                p = o + d * mid
                cell, corner, edge = locate(p)
                t_next = t + dt_here
                if (ti.cast(bitfield[cell >> 3], ti.i32) >> (cell & 7)) & 1:
                    if fill:
                        ray_indices[base + n] = r
                        t_starts[base + n] = t
                        t_ends[base + n] = t_next
                        positions[base + n] = p
                    n += 1
                else:
                    # skip the lattice points whose midpoints lie in this empty cell
                    t_stop = cell_exit(o, d, corner, edge, t_hi)
                    while True:
                        dt_next = step_at(t_next, step_size, max_step, cone_angle)
                        if t_next + 0.5 * dt_next >= t_stop or t_next + dt_next <= t_next:
                            break
                        t_next = t_next + dt_next
                if t_next <= t:  # float resolution exhausted at this t: the ray ends (reference step 2)
                    break
                t = t_next
            if not fill:
                ray_offsets[r + 1] = n

    return fast(march)
