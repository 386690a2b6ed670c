"""Taichi kernels of the fused neural-field inference: hash-grid encoding and MLP in one launch, per point.

A thread per point (or pixel) encodes it with `make_hashgrid_funcs(...).encode` and runs the MLP with
`make_mlp_funcs(...).forward` on the features it holds in registers, so the L * F features never go
through device memory (the round trip the separate ops make: 2 x 4 B x L * F per point, written then read
back, next to the 2 B x F x 2^D x L of table gathers). `image` also makes its points itself, the pixel
centres of a raster over a uv rectangle (reference.py), so a frame reads nothing per pixel and writes only
its colours. A float16 MLP reads the features rounded to float16, as the separate ops hand them over.
"""

import functools
import types

from ngfx.kernels import runtime
from ngfx.kernels.encodings.hashgrid.config import HashGridConfig
from ngfx.kernels.encodings.hashgrid.kernels import make_hashgrid_funcs
from ngfx.kernels.launch import fast
from ngfx.kernels.networks.mlp.config import MLPConfig
from ngfx.kernels.networks.mlp.kernels import compute_dtype_name, make_mlp_funcs

__all__ = ["make_field_kernels"]


@functools.cache
def make_field_kernels(grid_cfg: HashGridConfig, table_dtype: str, mlp_cfg: MLPConfig, mlp_dtype: str,
                       generation: int) -> types.SimpleNamespace:
    """`infer` (points -> outputs) and, for 2D grids, `image` (a uv raster -> outputs) for a table of
    `table_dtype` and MLP weights of `mlp_dtype` ('f16' | 'f32' | 'f64'). Outputs are in the MLP's compute
    dtype (f32; f64 for f64); points in the table's accumulation dtype."""
    del generation
    ti = runtime.taichi()
    grid, mlp = make_hashgrid_funcs(grid_cfg, table_dtype), make_mlp_funcs(mlp_cfg, mlp_dtype)
    st, ct = getattr(ti, mlp_dtype), getattr(ti, compute_dtype_name(mlp_dtype))
    arr, n_out = ti.types.ndarray, mlp_cfg.n_outputs
    vec_d = ti.types.vector(grid_cfg.n_dims, grid.acc_dtype)

    @ti.func
    def field(table: ti.template(), params: ti.template(), x):
        features = ti.cast(ti.cast(grid.encode(table, x), st), ct)  # what the separate MLP op would read
        return mlp.forward(params, features)

    @ti.kernel
    def infer(points: arr(vec_d, ndim=1),  # [N, D] in [0, 1]^D (clamped by the encoding)
              table: grid.table_type,  # [n_entries, F]
              params: arr(st, ndim=1),  # [n_params] flat MLP weights
              out: arr(ct, ndim=2)):  # [N, n_outputs] out
        for i in points:
            y = field(table, params, points[i])
            for o in ti.static(range(n_out)):
                out[i, o] = y[o]

    kernels = types.SimpleNamespace(infer=fast(infer))
    if grid_cfg.n_dims == 2:
        @ti.kernel
        def image(u0: ti.f64, v0: ti.f64, du: ti.f64, dv: ti.f64,  # uv of pixel (x, y) = (u0 + du (x + 0.5), ...)
                  table: grid.table_type, params: arr(st, ndim=1),
                  out: arr(ct, ndim=3)):  # [H, W, n_outputs] out, row 0 at the top (v0)
            for y, x in ti.ndrange(out.shape[0], out.shape[1]):
                uv = ti.Vector([u0 + du * (ti.f64(x) + 0.5), v0 + dv * (ti.f64(y) + 0.5)])
                value = field(table, params, ti.cast(uv, grid.acc_dtype))
                for o in ti.static(range(n_out)):
                    out[y, x, o] = value[o]

        kernels.image = fast(image)
    return kernels
