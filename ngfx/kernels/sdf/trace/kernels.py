"""Taichi kernel of sphere tracing a neural SDF (reference.py has the method; REFERENCE 4.6 for NeuS's field).

One thread per ray runs the whole march: clip to the box and [near, far], then up to max_steps evaluations
of the fused field, output 0 of MLP(hash-grid encoding) at the box-normalised point, built from the same
ti.funcs as the fused inference (networks/field/kernels.py: `make_hashgrid_funcs(...).encode` and
`make_mlp_funcs(...).forward`), so features stay in registers. A hit then takes six more evaluations for the
central-difference normal, in a counted loop (axis and sign from the counter) so the field's code is
inlined twice, not seven times: Taichi's compile time grows with inlined code. Rays that stop early idle
until their block's last ray is done (no compaction: inference on a frame's rays, not a training batch).

Infinities: Taichi compiles with fast math (no-inf, no-NaN assumptions), so the slab test uses +-1e30 as
infinity and only the stored t of a miss is the constant +inf.
"""

import functools
import types

from ngfx.kernels import runtime
from ngfx.kernels.encodings.hashgrid.config import HashGridConfig
from ngfx.kernels.encodings.hashgrid.kernels import make_hashgrid_funcs
from ngfx.kernels.launch import fast
from ngfx.kernels.networks.mlp.config import MLPConfig
from ngfx.kernels.networks.mlp.kernels import compute_dtype_name, make_mlp_funcs

__all__ = ["make_trace_kernels"]

BIG = 1e30  # finite infinity of the slab test (module docstring)


@functools.cache
def make_trace_kernels(grid_cfg: HashGridConfig, table_dtype: str, mlp_cfg: MLPConfig, mlp_dtype: str,
                       generation: int) -> types.SimpleNamespace:
    """`trace` for a 3D grid whose table is `table_dtype` and an MLP of `mlp_dtype` ('f16' | 'f32' |
    'f64'); rays, t and normals are in the MLP's compute dtype (f32; f64 for f64)."""
    del generation
    ti = runtime.taichi()
    grid, mlp = make_hashgrid_funcs(grid_cfg, table_dtype), make_mlp_funcs(mlp_cfg, mlp_dtype)
    st, ct = getattr(ti, mlp_dtype), getattr(ti, compute_dtype_name(mlp_dtype))
    arr, vec3 = ti.types.ndarray, ti.types.vector(3, ct)

    @ti.func
    def sdf(table: ti.template(), params: ti.template(), lo, hi, x):
        """Output 0 of the field at world point x (the box maps to [0, 1]^3), in world units."""
        xn = ti.cast((x - lo) / (hi - lo), grid.acc_dtype)
        features = ti.cast(ti.cast(grid.encode(table, xn), st), ct)  # as the separate MLP op would read them
        return mlp.forward(params, features)[0]

    @ti.func
    def box_interval(o, d, lo, hi):
        """(t_enter, t_exit) of the slab test; an axis with d_k = 0 clips nothing, or misses from outside."""
        t0, t1 = ct(-BIG), ct(BIG)
        for k in ti.static(range(3)):
            if d[k] != 0.0:
                ta, tb = (lo[k] - o[k]) / d[k], (hi[k] - o[k]) / d[k]
                t0, t1 = ti.max(t0, ti.min(ta, tb)), ti.min(t1, ti.max(ta, tb))
            elif o[k] < lo[k] or o[k] > hi[k]:
                t0 = ct(BIG)
        return t0, t1

    @ti.func
    def normal(table: ti.template(), params: ti.template(), lo, hi, x, h):
        """normalise((f(x + h e_k) - f(x - h e_k)) / 2h), or zero where that difference vanishes."""
        grad = vec3(0.0)
        for j in range(6):  # a counted loop: one inlined copy of the field (module docstring)
            axis = vec3([ti.select(j // 2 == k, 1.0, 0.0) for k in ti.static(range(3))])
            sign = ti.select(j % 2 == 0, ct(1.0), ct(-1.0))
            grad += axis * (sign * sdf(table, params, lo, hi, x + axis * (sign * h)))
        grad = grad / (2.0 * h)
        length = grad.norm()
        return ti.select(length > 0.0, grad / ti.max(length, ct(1e-30)), vec3(0.0))

    @ti.kernel
    def trace(origins: arr(vec3, ndim=1),  # [R, 3] world
              directions: arr(vec3, ndim=1),  # [R, 3] world, any non-zero length
              box: arr(vec3, ndim=1),  # [2, 3] aabb_min, aabb_max (world)
              table: grid.table_type,  # [n_entries, F]
              params: arr(st, ndim=1),  # [n_params] flat MLP weights
              near: ct, far: ct, max_steps: ti.i32, epsilon: ct, step_scale: ct, normal_step: ct,
              t_out: arr(ct, ndim=1),  # [R] out, +inf for a miss
              normals: arr(vec3, ndim=1),  # [R, 3] out
              steps: arr(ti.i32, ndim=1)):  # [R] out
        for r in origins:
            o, d, lo, hi = origins[r], directions[r], box[0], box[1]
            t0, t1 = box_interval(o, d, lo, hi)
            t, t_end = ti.max(t0, near), ti.min(t1, far)  # march state: t, evaluations n, hit
            inv_len = 1.0 / d.norm()
            n, hit = 0, False
            while n < max_steps and t <= t_end:
                f = sdf(table, params, lo, hi, o + t * d)
                n += 1
                if f < epsilon:  # inside counts too: a start inside or an overshoot stops here
                    hit = True
                    break
                t += step_scale * f * inv_len
            steps[r] = n
            normals[r] = vec3(0.0)
            t_out[r] = ti.math.inf
            if hit:
                t_out[r] = t
                normals[r] = normal(table, params, lo, hi, o + t * d, normal_step)

    return types.SimpleNamespace(trace=fast(trace))
