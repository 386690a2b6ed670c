"""Public fused preprocess `preprocess_gaussians`: raw 3D Gaussian parameters -> the rasterizer's packed rows.

Equal to sigmoid -> project_gaussians -> eval_sh -> pack (reference.py does exactly that in torch), in one
Taichi launch each way and with no concatenations, which dominate small frames on the GPU. The renderer
uses it; the separate ops stay the readable, composable API.
"""

import dataclasses

import numpy as np
import torch

from ngfx.kernels import runtime
from ngfx.kernels.splat.fused.kernels import ROW, TILE, make_fused_kernels

__all__ = ["Preprocessed", "preprocess_gaussians", "preprocess_gaussians_4d", "camera_scalars"]


@dataclasses.dataclass(frozen=True)
class Preprocessed:
    """rows [N, 10]: mean2d (px), conic (a, b, c), opacity, rgb, depth (zeros when culled), the layout of
    `rasterize_packed`; radii [N, 2] int32, (0, 0) = culled (not differentiable); rects: the tile
    rectangles of the kernel path (None from the reference), so the binning skips its counting pass."""

    rows: torch.Tensor
    radii: torch.Tensor
    rects: torch.Tensor | None = None  # [N, 5] int32 16-px tile rectangles + counts, for tiles.map_to_tiles

    @property
    def means2d(self):
        return self.rows[:, 0:2]

    @property
    def depths(self):
        return self.rows[:, 9]


def camera_scalars(T_camera_world, intrinsics, width, height, near, far, radius_sigmas, antialiased):
    """Host-side kernel arguments: R_cw, t_cw, camera centre (float64 numpy), then the floats and flags."""
    T = torch.as_tensor(T_camera_world).detach().to("cpu", torch.float64).numpy()
    assert T.shape == (4, 4), T.shape
    R, t = np.ascontiguousarray(T[:3, :3]), np.ascontiguousarray(T[:3, 3])
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    return (R, t, np.ascontiguousarray(np.linalg.solve(R, -t)), fx, fy, cx, cy, float(width), float(height), float(near),
            float(far), float(radius_sigmas), int(bool(antialiased)))


def _tile_grid(width: int, height: int) -> tuple[int, int]:
    return -(-int(width) // TILE), -(-int(height) // TILE)


class _Fused(torch.autograd.Function):
    """Inputs: 6 parameter tensors, then (kind "3d" | "4d", camera scalars, nb, the 4D scalars, the tile grid,
    the statistics buffer or None and its scale)."""

    @staticmethod
    def forward(ctx, p0, p1, p2, opacity_logits, sh_dc, sh_rest, kind, scalars, nb, tail, tiles, stats, scale):
        k = make_fused_kernels("f32" if p0.dtype == torch.float32 else "f64", runtime.generation())
        n, n_rest = p0.shape[0], sh_rest.shape[1]
        inputs = [x.detach() for x in (p0, p1, p2, opacity_logits, sh_dc)]
        inputs.append(sh_rest.detach() if n_rest else p0.new_zeros((1, 1, 3)))  # Taichi gets no empty arrays
        rows = p0.new_empty((n, ROW))
        radii = torch.empty((n, 2), dtype=torch.int32, device=p0.device)
        rects = torch.empty((n, 5), dtype=torch.int32, device=p0.device)
        if n:
            getattr(k, "fwd" + kind)(*inputs, *scalars, nb, *tiles, *tail, rows, radii, rects)
        ctx.save_for_backward(*inputs)
        ctx.args = (kind, scalars, nb, n_rest, tail, stats, scale)
        ctx.mark_non_differentiable(radii, rects)
        return rows, radii, rects

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_rows, grad_radii, grad_rects):
        inputs = ctx.saved_tensors
        kind, scalars, nb, n_rest, tail, stats, scale = ctx.args
        k = make_fused_kernels("f32" if inputs[0].dtype == torch.float32 else "f64", runtime.generation())
        grads = [torch.empty_like(x) for x in inputs]
        if stats is None:
            stats, scale = inputs[0].new_empty((4, 1)), 0.0  # never touched at scale 0: no fill launch
        if inputs[0].shape[0]:
            getattr(k, "bwd" + kind)(*inputs, *scalars, nb, n_rest, *tail, scale, grad_rows.contiguous(), *grads,
                                     stats)
        if not n_rest:  # the kernel saw a dummy: the real sh_rest is [N, 0, 3]
            grads[-1] = inputs[0].new_zeros((inputs[0].shape[0], 0, 3))
        return (*grads, *(None,) * 7)


def _check_stats(stats, like: torch.Tensor, scale: float):
    """The statistics buffer [4, N] (ngfx.splatting.strategy.DensifyState.values): same dtype and device as
    the parameters, contiguous, since the backward adds into it in place."""
    if stats is None:
        return None, 0.0
    n = like.shape[0]
    if (stats.shape != (4, n) or stats.dtype != like.dtype or stats.device != like.device
            or not stats.is_contiguous()):
        raise ValueError(f"stats must be a contiguous [4, {n}] {like.dtype} tensor on {like.device}, got "
                         f"{tuple(stats.shape)} {stats.dtype} on {stats.device}")
    if not scale > 0:
        raise ValueError(f"stats_scale must be > 0, got {scale}")
    return stats, float(scale)


def preprocess_gaussians(means, log_scales, quats, opacity_logits, sh_dc, sh_rest, T_camera_world, intrinsics,
                         width: int, height: int, *, degree: int, near: float = 0.01, far: float = 1e10,
                         radius_sigmas: float = 3.0, antialiased: bool = False, stats=None,
                         stats_scale: float = 1.0) -> Preprocessed:
    """Raw parameters (means [N,3] world, log_scales [N,3], quats [N,4] wxyz, opacity_logits [N],
    sh_dc [N,1,3], sh_rest [N,K-1,3]) -> packed splat rows for one camera; SH bands up to `degree`
    (<= the coefficients given). Camera as project_gaussians (OpenCV T_camera_world, read on the host;
    intrinsics in pixels, centres at +0.5). Differentiable in every parameter tensor.

    stats [4, N]: densification statistics the backward adds to in place, in the same launch (rows grad2d,
    grad_t (left alone), count, max_radii; `ngfx.splatting.strategy.accumulate` with the gradient of
    `means2d` times stats_scale)."""
    runtime.ensure_init()
    n = means.shape[0]
    assert means.shape == (n, 3) and log_scales.shape == (n, 3) and quats.shape == (n, 4), means.shape
    assert opacity_logits.shape == (n,) and sh_dc.shape == (n, 1, 3), (opacity_logits.shape, sh_dc.shape)
    assert sh_rest.ndim == 3 and sh_rest.shape[0] == n and sh_rest.shape[2] == 3, sh_rest.shape
    assert 0 <= degree <= 3 and (degree + 1) ** 2 <= sh_rest.shape[1] + 1, (degree, sh_rest.shape)
    scalars = camera_scalars(T_camera_world, intrinsics, width, height, near, far, radius_sigmas, antialiased)
    tensors = [x.contiguous() for x in (means, log_scales, quats, opacity_logits, sh_dc, sh_rest)]
    stats, scale = _check_stats(stats, means, stats_scale)
    rows, radii, rects = _Fused.apply(*tensors, "3d", scalars, (degree + 1) ** 2, (), _tile_grid(width, height),
                                      stats, scale)
    return Preprocessed(rows=rows, radii=radii, rects=rects)


def preprocess_gaussians_4d(means4, log_scales4, rotations, opacity_logits, sh_dc, sh_rest, time: float,
                            T_camera_world, intrinsics, width: int, height: int, *, rotation: str, degree: int,
                            min_temporal_weight: float = 0.05, near: float = 0.01, far: float = 1e10,
                            radius_sigmas: float = 3.0, antialiased: bool = False, stats=None,
                            stats_scale: float = 1.0) -> Preprocessed:
    """The 4D twin of `preprocess_gaussians`: slice xyzt Gaussians at `time` (slice4d), cull on the temporal
    weight, project, and colour with spatial SH at the sliced means (no temporal SH bands: use the separate
    ops for those). means4 [N,4], log_scales4 [N,4], rotations [N,8] ("dualquat" | "rotor"). stats as in
    `preprocess_gaussians` (grad_t is not added: it is the gradient of a parameter, not of a row)."""
    runtime.ensure_init()
    n = means4.shape[0]
    assert means4.shape == (n, 4) and log_scales4.shape == (n, 4) and rotations.shape == (n, 8), means4.shape
    assert opacity_logits.shape == (n,) and sh_dc.shape == (n, 1, 3), (opacity_logits.shape, sh_dc.shape)
    assert sh_rest.ndim == 3 and sh_rest.shape[0] == n and sh_rest.shape[2] == 3, sh_rest.shape
    assert 0 <= degree <= 3 and (degree + 1) ** 2 <= sh_rest.shape[1] + 1, (degree, sh_rest.shape)
    if rotation not in ("dualquat", "rotor"):
        raise ValueError(f"rotation must be 'dualquat' or 'rotor', got {rotation!r}")
    scalars = camera_scalars(T_camera_world, intrinsics, width, height, near, far, radius_sigmas, antialiased)
    tensors = [x.contiguous() for x in (means4, log_scales4, rotations, opacity_logits, sh_dc, sh_rest)]
    tail = (float(time), int(rotation == "rotor"), float(min_temporal_weight))
    stats, scale = _check_stats(stats, means4, stats_scale)
    rows, radii, rects = _Fused.apply(*tensors, "4d", scalars, (degree + 1) ** 2, tail, _tile_grid(width, height),
                                      stats, scale)
    return Preprocessed(rows=rows, radii=radii, rects=rects)
