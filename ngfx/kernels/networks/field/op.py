"""Public fused neural-field inference: `infer_field` (points) and `render_field_image` (a uv raster), one
Taichi launch each (kernels.py), equal to the hash-grid encoding then the MLP (reference.py). Inference only:
training goes through the separate, differentiable `encode_hashgrid` and `fused_mlp`.
"""

import torch

from ngfx.kernels import runtime
from ngfx.kernels.encodings.hashgrid.config import HashGridConfig
from ngfx.kernels.networks.field.kernels import make_field_kernels
from ngfx.kernels.networks.mlp.config import MLPConfig

__all__ = ["check_field_tensors", "infer_field", "render_field_image"]

_NAMES = {torch.float16: "f16", torch.float32: "f32", torch.float64: "f64"}


def check_field_tensors(table, grid_cfg, params, mlp_cfg):
    """The boundary checks of every fused field op: configs that fit each other, table and params of their
    shapes in float16/32/64 (float64 for both or neither)."""
    if not isinstance(grid_cfg, HashGridConfig) or not isinstance(mlp_cfg, MLPConfig):
        raise TypeError(f"need a HashGridConfig and an MLPConfig, got {type(grid_cfg).__name__} and "
                        f"{type(mlp_cfg).__name__}")
    if mlp_cfg.n_inputs != grid_cfg.n_outputs:
        raise ValueError(f"the MLP takes {mlp_cfg.n_inputs} inputs but the grid gives {grid_cfg.n_outputs} "
                         "features (n_levels * n_features)")
    if tuple(table.shape) != (grid_cfg.n_entries, grid_cfg.n_features) or table.dtype not in _NAMES:
        raise ValueError(f"table must be a float16/32/64 [{grid_cfg.n_entries}, {grid_cfg.n_features}] tensor, "
                         f"got {tuple(table.shape)} {table.dtype}")
    if tuple(params.shape) != (mlp_cfg.n_params,) or params.dtype not in _NAMES:
        raise ValueError(f"params must be a float16/32/64 [{mlp_cfg.n_params}] tensor, got "
                         f"{tuple(params.shape)} {params.dtype}")
    if (table.dtype == torch.float64) != (params.dtype == torch.float64):
        raise ValueError(f"float64 is for both or neither (tests), got table {table.dtype}, params {params.dtype}")


def _out_dtype(table, params):
    return torch.float64 if table.dtype == params.dtype == torch.float64 else torch.float32


def _kernels(table, grid_cfg, params, mlp_cfg):
    return make_field_kernels(grid_cfg, _NAMES[table.dtype], mlp_cfg, _NAMES[params.dtype], runtime.generation())


@torch.no_grad()
def infer_field(points, table, grid_cfg: HashGridConfig, params, mlp_cfg: MLPConfig) -> torch.Tensor:
    """MLP(hash-grid encoding(points)) for points [N, D] in [0, 1]^D (clamped): [N, n_outputs], float32
    (float64 when table and params are float64). Not differentiable. Tensors on runtime.device()."""
    runtime.ensure_init()
    check_field_tensors(table, grid_cfg, params, mlp_cfg)
    if points.ndim != 2 or points.shape[1] != grid_cfg.n_dims:
        raise ValueError(f"points must be [N, {grid_cfg.n_dims}], got {tuple(points.shape)}")
    k = _kernels(table, grid_cfg, params, mlp_cfg)
    dtype = _out_dtype(table, params)
    out = torch.empty((points.shape[0], mlp_cfg.n_outputs), dtype=dtype, device=points.device)
    if points.shape[0]:
        k.infer(points.detach().to(dtype).contiguous(), table.detach().contiguous(), params.detach().contiguous(),
                out)
    return out


@torch.no_grad()
def render_field_image(table, params, grid_cfg: HashGridConfig, mlp_cfg: MLPConfig, region, width: int,
                       height: int) -> torch.Tensor:
    """A 2D field over the uv rectangle `region` = (u0, v0, u1, v1) at width x height pixel centres
    (reference.py has the convention): [height, width, n_outputs], float32 (float64 when table and params
    are float64), in one launch. Not differentiable."""
    runtime.ensure_init()
    check_field_tensors(table, grid_cfg, params, mlp_cfg)
    if grid_cfg.n_dims != 2:
        raise ValueError(f"render_field_image needs a 2D grid, got n_dims {grid_cfg.n_dims}")
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be >= 1, got {width} x {height}")
    u0, v0, u1, v1 = (float(r) for r in region)
    k = _kernels(table, grid_cfg, params, mlp_cfg)
    out = torch.empty((height, width, mlp_cfg.n_outputs), dtype=_out_dtype(table, params), device=table.device)
    k.image(u0, v0, (u1 - u0) / width, (v1 - v0) / height, table.detach().contiguous(), params.detach().contiguous(),
            out)
    return out
