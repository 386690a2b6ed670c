"""Pure-torch twins of the fused neural-field inference (op.py): the hash-grid encoding, then the MLP.

`render_field_image` samples a 2D field at the pixel centres of a width x height raster laid over the uv
rectangle `region` = (u0, v0, u1, v1): pixel (x, y) reads uv = (u0 + (u1 - u0)(x + 0.5) / width,
v0 + (v1 - v0)(y + 0.5) / height), u right and v down (`ngfx.viewer.pan_zoom`), so region (0, 0, 1, 1) at
the image's own size reads every training pixel centre. uv outside [0, 1] is clamped by the encoding; the
ops report which pixels lie outside through `inside` only in the viewer, not here.
"""

import torch

from ngfx.kernels.encodings.hashgrid.config import HashGridConfig
from ngfx.kernels.encodings.hashgrid.reference import encode_hashgrid
from ngfx.kernels.networks.mlp.config import MLPConfig
from ngfx.kernels.networks.mlp.reference import fused_mlp

__all__ = ["infer_field", "render_field_image", "pixel_uv"]


def infer_field(points, table, grid_cfg: HashGridConfig, params, mlp_cfg: MLPConfig) -> torch.Tensor:
    """MLP(encoding(points)) for points [N, D] in [0, 1]^D: [N, n_outputs], float32 (float64 when the table,
    points and params are float64). A float16 MLP reads the features rounded to float16. Inference only in
    the fused op (here plain autograd)."""
    features = encode_hashgrid(points, table, grid_cfg)
    out = fused_mlp(features.to(params.dtype), params, mlp_cfg)
    return out if out.dtype == torch.float64 else out.float()


def pixel_uv(region, width: int, height: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """[height * width, 2] uv of the pixel centres of a raster over `region` (module docstring), row-major."""
    u0, v0, u1, v1 = (float(r) for r in region)
    xs = (torch.arange(width, device=device, dtype=torch.float64) + 0.5) / width
    ys = (torch.arange(height, device=device, dtype=torch.float64) + 0.5) / height
    v, u = torch.meshgrid(v0 + (v1 - v0) * ys, u0 + (u1 - u0) * xs, indexing="ij")
    return torch.stack([u, v], dim=-1).reshape(-1, 2).to(dtype)


def render_field_image(table, params, grid_cfg: HashGridConfig, mlp_cfg: MLPConfig, region, width: int,
                       height: int) -> torch.Tensor:
    """The 2D field over `region` at width x height pixel centres: [height, width, n_outputs] float32."""
    assert grid_cfg.n_dims == 2, grid_cfg.n_dims
    uv = pixel_uv(region, width, height, table.device, torch.float64 if table.dtype == torch.float64
                  else torch.float32)
    return infer_field(uv, table, grid_cfg, params, mlp_cfg).reshape(height, width, mlp_cfg.n_outputs)
