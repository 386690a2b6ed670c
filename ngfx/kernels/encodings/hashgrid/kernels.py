"""Taichi kernels of the multi-resolution hash-grid encoding (reference.py has the method, REFERENCE 4.1).

Everything about the layout is a compile-time constant taken from the frozen HashGridConfig through
ti.static: per level its scale, resolution, row count T_l, first row and dense/hashed flag, so the kernels
take tensors only and each level gets its own code with immediates. The 2^D corners are a counted loop
rather than a static unroll: LLVM unrolls it all the same, while Taichi's own passes over 16 levels x 8
corners unrolled took 40 s to compile the backward on the CPU (3 s as a loop). Indices are u32 (the hash
wraps mod 2^32, and a u32 `mod T_l` keeps any index, even one from a NaN point, inside its level).

Scheduling: one thread per (level, point) with the level as the OUTER ndrange index, as tcnn's
{ceil(N / 512), L} grid, so consecutive threads share one level and only that level's table is cache-hot.
The thread picks its level's code with a static switch (`if lv == k`) that is uniform across a block
except where two levels meet. Outputs are written as [N, L, F] rows (F values at a stride of L F).

Backward, one launch `bwd` for both inputs (why one: the 2^D rows and weights, which cost more than the
scatter itself, are computed once for both uses). Per corner it scatters weight * dL/dfeature into the
f32 (f64) table gradient with atomics (tcnn's hot spot, REFERENCE 4.2), and when asked gathers the corner
values for dL/dx_d = scale_l ds/dw_d sum_c (c_d ? 1 : -1) prod_{e != d} weight_e (value_c . dL/dfeature),
added into grad_points with D atomics per thread: the L threads of one point run a whole level apart, so
these never contend. Coordinates that were clamped get no gradient (torch.clamp passes it on [0, 1]).
"""

import functools
import types

from ngfx.kernels import runtime
from ngfx.kernels.encodings.hashgrid.config import HashGridConfig
from ngfx.kernels.encodings.hashgrid.reference import PRIMES
from ngfx.kernels.launch import fast

__all__ = ["make_hashgrid_funcs", "make_hashgrid_kernels"]

TABLE_DTYPES = ("f16", "f32", "f64")


@functools.cache
def make_hashgrid_funcs(cfg: HashGridConfig, dtype_name: str) -> types.SimpleNamespace:
    """`ti.func`s for kernels that read a hash-grid table of `dtype_name` ('f16', 'f32', 'f64') passed as
    their own ndarray argument annotated `table_type` ([n_entries] of F-vectors, i.e. a torch
    [n_entries, F] tensor). Accumulation is in `acc_dtype` (f32; f64 for f64 tables). Namespace:
      encode(table, x) -> L*F acc-vector of point x (a D-vector, any float type), level-major;
      level(table, x, l) -> F acc-vector of static level l;
      level_backward(table, x, g, l, want_table, want_points, grad_table, grad_points, i): the backward of
        `level` for cotangent g (an F acc-vector), added atomically into grad_table ([n_entries] of acc
        F-vectors) and, when want_points, grad_points[i] ([N] of acc D-vectors)."""
    if dtype_name not in TABLE_DTYPES:
        raise ValueError(f"hash-grid tables are {', '.join(TABLE_DTYPES)}, got {dtype_name!r}")
    ti = runtime.taichi()
    acc = ti.f64 if dtype_name == "f64" else ti.f32
    n_dims, n_features, n_levels = cfg.n_dims, cfg.n_features, cfg.n_levels
    vec_d, vec_f = ti.types.vector(n_dims, acc), ti.types.vector(n_features, acc)
    scales, resolutions, sizes = cfg.level_scales(), cfg.level_resolutions(), cfg.level_sizes()
    offsets, dense = cfg.level_offsets(), cfg.level_dense()
    n_corners = 1 << n_dims

    @ti.func
    def cell(x, lvl: ti.template()):
        """Clamped x -> (u32 cell origin g, interpolation weights s, ds/dw, scale_l * [0 <= x_d <= 1])."""
        xa = ti.cast(x, acc)
        p = acc(ti.static(scales[lvl])) * ti.math.clamp(xa, 0.0, 1.0) + 0.5
        g = ti.floor(p)
        w = p - g
        s, ds = w, vec_d(1.0)
        if ti.static(cfg.smoothstep):
            s, ds = w * w * (3.0 - 2.0 * w), 6.0 * w * (1.0 - w)
        inside = ti.cast((xa >= 0.0) & (xa <= 1.0), acc) * acc(ti.static(scales[lvl]))
        return ti.cast(ti.cast(g, ti.i32), ti.u32), s, ds, inside

    @ti.func
    def product(factors, skip: ti.template()):
        """prod_d factors_d over every d but `skip` (-1: over all)."""
        out = acc(1.0)
        for d in ti.static(range(n_dims)):
            if ti.static(d != skip):
                out *= factors[d]
        return out

    @ti.func
    def corner(s, c):
        """Corner c (bit d: upper vertex along d) -> (u32 vertex offsets, factors c_d ? s_d : 1 - s_d)."""
        bits = ti.Vector([(c >> d) & 1 for d in ti.static(range(n_dims))], dt=ti.i32)
        return ti.cast(bits, ti.u32), ti.select(bits == 1, s, 1.0 - s)

    @ti.func
    def row(v, lvl: ti.template()):
        """Table row of vertex v (u32): direct or hashed index mod T_l, plus the level's offset."""
        idx = ti.u32(0)
        for d in ti.static(range(n_dims)):
            if ti.static(dense[lvl]):
                idx += v[d] * ti.u32(ti.static(resolutions[lvl] ** d))
            else:
                # v pi_d mod 2^32, multiplied in u64 and truncated: the same low bits, but Taichi's debug
                # mode flags a wrapping u32 multiply as an overflow (LLVM narrows it back to a u32 multiply)
                idx ^= ti.cast(ti.cast(v[d], ti.u64) * ti.u64(ti.static(PRIMES[d])), ti.u32)
        return ti.cast(idx % ti.u32(ti.static(sizes[lvl])), ti.i32) + ti.static(offsets[lvl])

    @ti.func
    def encode_level(table: ti.template(), x, lvl: ti.template()):
        g, s, _ds, _inside = cell(x, lvl)
        out = vec_f(0.0)
        for c in range(n_corners):  # a loop, not unrolled: LLVM unrolls it, Taichi's passes stay fast
            bits, factors = corner(s, c)
            out += product(factors, -1) * ti.cast(table[row(g + bits, lvl)], acc)
        return out

    @ti.func
    def encode(table: ti.template(), x):
        out = ti.Vector([acc(0.0)] * (n_levels * n_features))
        for lv in ti.static(range(n_levels)):
            feat = encode_level(table, x, lv)
            for f in ti.static(range(n_features)):
                out[lv * n_features + f] = feat[f]
        return out

    @ti.func
    def level_backward(table: ti.template(), x, g_feat, lvl: ti.template(), want_table, want_points,
                       grad_table: ti.template(), grad_points: ti.template(), i):
        g, s, ds, inside = cell(x, lvl)
        grad_x = vec_d(0.0)  # sum_c (c_d ? 1 : -1) prod_{e != d} weight_e (value_c . g_feat), per d
        for c in range(n_corners):
            bits, factors = corner(s, c)
            r = row(g + bits, lvl)
            if want_table:
                ti.atomic_add(grad_table[r], product(factors, -1) * g_feat)
            if want_points:
                dot = ti.cast(table[r], acc).dot(g_feat)
                for d in ti.static(range(n_dims)):
                    grad_x[d] += ti.select(bits[d] == 1, dot, -dot) * product(factors, d)
        if want_points:
            ti.atomic_add(grad_points[i], grad_x * ds * inside)

    table_type = ti.types.ndarray(ti.types.vector(n_features, getattr(ti, dtype_name)), ndim=1)
    return types.SimpleNamespace(encode=encode, level=encode_level, level_backward=level_backward,
                                 table_type=table_type, acc_dtype=acc, n_outputs=cfg.n_outputs)


@functools.cache
def make_hashgrid_kernels(cfg: HashGridConfig, dtype_name: str, generation: int) -> types.SimpleNamespace:
    """fwd and bwd (module docstring) for tables of `dtype_name`; points, outputs and gradients are in the
    accumulation type (f32; f64 for 'f64'). `generation` (runtime.generation()) recompiles after a re-init."""
    del generation
    ti = runtime.taichi()
    lib = make_hashgrid_funcs(cfg, dtype_name)
    acc, n_levels = lib.acc_dtype, cfg.n_levels
    arr, vec_d, vec_f = ti.types.ndarray, ti.types.vector(cfg.n_dims, acc), ti.types.vector(cfg.n_features, acc)

    @ti.kernel
    def hashgrid_fwd(points: arr(vec_d, ndim=1),  # [N, D] in [0, 1]^D (clamped)
            table: lib.table_type,  # [n_entries, F], levels concatenated
            out: arr(vec_f, ndim=2)):  # [N, L, F] out
        for lv, i in ti.ndrange(n_levels, points.shape[0]):  # level outer: one table cache-hot at a time
            x = points[i]
            for k in ti.static(range(n_levels)):
                if lv == k:
                    out[i, k] = lib.level(table, x, k)

    @ti.kernel
    def hashgrid_bwd(points: arr(vec_d, ndim=1), table: lib.table_type,
            grad_out: arr(vec_f, ndim=2),  # [N, L, F] cotangent of the features
            want_table: ti.i32, want_points: ti.i32,
            grad_table: arr(vec_f, ndim=1),  # [n_entries, F] in/out, zeroed by the caller; [1, F] if unwanted
            grad_points: arr(vec_d, ndim=1)):  # [N, D] in/out, zeroed by the caller; [1, D] if unwanted
        for lv, i in ti.ndrange(n_levels, points.shape[0]):
            x = points[i]
            for k in ti.static(range(n_levels)):
                if lv == k:
                    lib.level_backward(table, x, grad_out[i, k], k, want_table, want_points, grad_table,
                                       grad_points, i)

    return types.SimpleNamespace(fwd=fast(hashgrid_fwd), bwd=fast(hashgrid_bwd))
