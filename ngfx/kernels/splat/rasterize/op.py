"""Public Gaussian rasterizer `rasterize_gaussians` (Taichi forward and hand-written backward).

The kernels (kernels.py, kernels_bwd.py) blend the raw channels C = (features, depth) and return T_final.
Background, alpha = 1 - T_final and the expected-depth division are applied here, inside the autograd
Function with explicit torch formulas, so the backward gets dL/dC and dL/dT_final for the kernel without
autograd materialising a full-size gradient buffer for every slice of the packed per-pixel output.
"""

import functools
import types

import torch

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast
from ngfx.kernels.splat.rasterize.kernels import GEO, TILE, make_forward_kernel
from ngfx.kernels.splat.rasterize.kernels_bwd import make_backward_kernel
from ngfx.kernels.splat.rasterize.outputs import SplatImage

__all__ = ["SplatImage", "rasterize_gaussians", "rasterize_packed"]


class _RasterizeFunction(torch.autograd.Function):
    """gaussians [N, 6 + C] packed rows (kernels.py), background [F] or None
    -> features [H, W, F], alpha, depth (differentiable), median depth, last ids [H, W]."""

    @staticmethod
    def forward(ctx, gaussians, background, tile_ranges, point_ids, width, height, kernels):
        n_features = gaussians.shape[1] - GEO - 1
        out_ids = torch.empty((height, width, 2), dtype=torch.int32, device=gaussians.device)
        if point_ids.numel():
            out_pix = gaussians.new_empty((height, width, n_features + 3))
            # detached: Taichi zero-fills .grad of every tensor argument that requires grad
            kernels.fwd(gaussians.detach(), tile_ranges, point_ids, _tiles_x(width), width, height, out_pix,
                        out_ids)
        else:  # nothing to draw (Taichi gets no zero-sized arrays)
            out_pix = gaussians.new_zeros((height, width, n_features + 3))
            out_pix[..., n_features + 1] = 1.0
            out_ids[..., 0], out_ids[..., 1] = 0, -1
        T_final = out_pix[..., n_features + 1]
        features = out_pix[..., :n_features]
        if background is None:
            features = features.clone()
        else:
            features = torch.addcmul(features, T_final[..., None], background)
        alpha = 1.0 - T_final
        depth = torch.where(alpha > 0, out_pix[..., n_features] / alpha, 0.0)
        median, last_ids = out_pix[..., n_features + 2], out_ids[..., 1]
        ctx.save_for_backward(gaussians, background, tile_ranges, point_ids, out_pix, out_ids, alpha, depth)
        ctx.kernels, ctx.size = kernels, (width, height)
        ctx.mark_non_differentiable(median, last_ids)
        ctx.set_materialize_grads(False)  # an unused output's cotangent arrives as None (depth: a lighter kernel)
        return features, alpha, depth, median, last_ids

    @staticmethod
    def backward(ctx, grad_features, grad_alpha, grad_depth, grad_median, grad_ids):
        del grad_median, grad_ids
        gaussians, background, tile_ranges, point_ids, out_pix, out_ids, alpha, depth = ctx.saved_tensors
        width, height = ctx.size
        depth_grad = grad_depth is not None
        grad_features = torch.zeros_like(out_pix[..., :-3]) if grad_features is None else grad_features
        grad_alpha = torch.zeros_like(alpha) if grad_alpha is None else grad_alpha
        grad_depth = torch.zeros_like(depth) if grad_depth is None else grad_depth
        T_final = out_pix[..., -2]
        inv_alpha = torch.where(alpha > 0, 1.0 / alpha, 0.0)
        grad_acc_depth = grad_depth * inv_alpha  # depth = acc_depth / alpha, alpha = 1 - T_final
        grad_T = torch.addcmul(-grad_alpha, grad_acc_depth, depth)
        grad_background = None
        if background is not None:
            grad_T = grad_T + (grad_features * background).sum(-1)
            if ctx.needs_input_grad[1]:
                grad_background = (grad_features * T_final[..., None]).sum((0, 1))
        grad_pix = torch.cat([grad_features, grad_acc_depth[..., None], grad_T[..., None],
                              torch.zeros_like(grad_T)[..., None]], dim=-1)  # the median slot is unused
        grad_gaussians = torch.zeros_like(gaussians)  # the kernel accumulates into it
        if point_ids.numel():
            backward = ctx.kernels.bwd if depth_grad else ctx.kernels.bwd_colour
            backward(gaussians.detach(), tile_ranges, point_ids, _tiles_x(width), width, height, out_pix.detach(),
                     out_ids, grad_pix, grad_gaussians)
        return grad_gaussians, grad_background, None, None, None, None, None


@functools.cache
def _kernels(dtype_name: str, n_features: int, arch_name: str, generation: int) -> types.SimpleNamespace:
    """Forward and backward kernels behind the lean launcher (per-call Taichi overhead paid once)."""
    key = (dtype_name, n_features, arch_name, generation)
    return types.SimpleNamespace(fwd=fast(make_forward_kernel(*key)), bwd=fast(make_backward_kernel(*key)),
                                 bwd_colour=fast(make_backward_kernel(*key, depth_grad=False)))


def _tiles_x(width: int) -> int:
    return -(-width // TILE)


def _check(means2d, conics, opacities, features, depths, tile_ranges, point_ids, width, height, background):
    n = means2d.shape[0]
    assert means2d.ndim == 2 and means2d.shape[1] == 2, means2d.shape
    assert conics.shape == (n, 3), conics.shape
    assert opacities.shape == (n,), opacities.shape
    assert features.ndim == 2 and features.shape[0] == n and features.shape[1] >= 1, features.shape
    assert depths.shape == (n,), depths.shape
    assert means2d.dtype in (torch.float32, torch.float64), means2d.dtype
    floats = [conics, opacities, features, depths] + ([] if background is None else [background])
    same = all(x.dtype == means2d.dtype and x.device == means2d.device for x in floats)
    assert same, "all float inputs share means2d's dtype and device"
    assert width > 0 and height > 0, (width, height)
    assert tile_ranges.shape == (_tiles_x(width) * -(-height // TILE), 2), tile_ranges.shape
    assert tile_ranges.dtype == point_ids.dtype == torch.int32, (tile_ranges.dtype, point_ids.dtype)
    assert point_ids.ndim == 1, point_ids.shape
    assert background is None or background.shape == (features.shape[1],), background.shape


def rasterize_gaussians(means2d: torch.Tensor, conics: torch.Tensor, opacities: torch.Tensor,
                        features: torch.Tensor, depths: torch.Tensor, tile_ranges: torch.Tensor,
                        point_ids: torch.Tensor, width: int, height: int, *,
                        background: torch.Tensor | None = None) -> SplatImage:
    """Front-to-back alpha compositing of 2D Gaussians over 16x16 tiles (REFERENCE 2.4).

    means2d [N, 2] in pixels (centre of pixel (i, j) at (i + 0.5, j + 0.5)); conics [N, 3] (a, b, c) = inverse
    2D covariance (xx, xy, yy), power = -0.5 (a dx^2 + c dy^2) - b dx dy; opacities [N] activated, in [0, 1];
    features [N, F] (F >= 1, e.g. RGB); depths [N] camera z; background [F] or None (zeros).
    tile_ranges [tiles_y * tiles_x, 2] int32 [start, end) and point_ids [P] int32, sorted by tile then depth
    (tiles.map_to_tiles); a Gaussian missing from a tile's list contributes nothing to that tile.
    Per pixel: skip power > 0; alpha = min(0.99, o e^power); skip alpha < 1/255; stop before T < 1e-4.
    Differentiable in means2d, conics, opacities, features, depths (through `depth`) and background;
    d/dconics treats b as the single off-diagonal parameter above (no factor 1/2).
    Float32 or float64 tensors on `runtime.device()`.
    """
    runtime.ensure_init()
    _check(means2d, conics, opacities, features, depths, tile_ranges, point_ids, width, height, background)
    kernels = _kernels("f32" if means2d.dtype == torch.float32 else "f64", features.shape[1], runtime.arch(),
                       runtime.generation())
    gaussians = torch.cat([means2d, conics, opacities[:, None], features, depths[:, None]], dim=1)
    outputs = _RasterizeFunction.apply(gaussians.contiguous(), background, tile_ranges.contiguous(),
                                       point_ids.contiguous(), width, height, kernels)
    return SplatImage(*outputs)


def rasterize_packed(gaussians: torch.Tensor, tile_ranges: torch.Tensor, point_ids: torch.Tensor, width: int,
                     height: int, *, background: torch.Tensor | None = None) -> SplatImage:
    """`rasterize_gaussians` on rows already packed as [N, 6 + F + 1]: mean2d, conic, opacity, features,
    depth (what `fused.preprocess_gaussians` writes), so no per-frame concatenation is needed."""
    runtime.ensure_init()
    n_features = gaussians.shape[1] - GEO - 1
    assert gaussians.ndim == 2 and n_features >= 1, gaussians.shape
    assert gaussians.dtype in (torch.float32, torch.float64), gaussians.dtype
    assert tile_ranges.dtype == point_ids.dtype == torch.int32, (tile_ranges.dtype, point_ids.dtype)
    assert tile_ranges.shape == (_tiles_x(width) * -(-height // TILE), 2), tile_ranges.shape
    assert background is None or background.shape == (n_features,), background.shape
    kernels = _kernels("f32" if gaussians.dtype == torch.float32 else "f64", n_features, runtime.arch(),
                       runtime.generation())
    outputs = _RasterizeFunction.apply(gaussians.contiguous(), background, tile_ranges.contiguous(),
                                       point_ids.contiguous(), width, height, kernels)
    return SplatImage(*outputs)
