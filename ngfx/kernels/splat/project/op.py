"""Public 3D Gaussian projection `project_gaussians` (Taichi forward, hand-written backward) and its output.

Conventions (DESIGN.md "project"): OpenCV world-to-camera `T_camera_world`, intrinsics (fx, fy, cx, cy) in
pixels with pixel centres at (i + 0.5, j + 0.5), quats wxyz (any non-zero norm), covariances packed
(xx, xy, xz, yy, yz, zz). The method is in kernels.py; reference.py is the pure-torch twin.
"""

import dataclasses

import numpy as np
import torch

from ngfx.kernels import runtime
from ngfx.kernels.splat.project.kernels import make_project_kernels

__all__ = ["Projection", "project_gaussians"]


@dataclasses.dataclass(frozen=True)
class Projection:
    """Screen-space Gaussians, one row per input Gaussian; culled rows are all zeros.

    means2d:   [N, 2] pixels (unclamped projection of the mean).
    conics:    [N, 3] (a, b, c) = inverse dilated Sigma2 (xx, xy, yy): power = -0.5 (a dx^2 + c dy^2)
               - b dx dy.
    depths:    [N] camera-frame z.
    radii:     [N, 2] int32 half-extent of the screen box per axis, (0, 0) = culled. Not differentiable.
    opacities: [N] input opacity, times rho when antialiased.
    """

    means2d: torch.Tensor
    conics: torch.Tensor
    depths: torch.Tensor
    radii: torch.Tensor
    opacities: torch.Tensor


def _dtype_name(dtype: torch.dtype) -> str:
    return {torch.float32: "f32", torch.float64: "f64"}[dtype]


def _outputs(n: int, dtype: torch.dtype, dev: torch.device):
    """Fresh output buffers: means2d, conics, depths, radii, opacities."""
    return (torch.empty((n, 2), dtype=dtype, device=dev), torch.empty((n, 3), dtype=dtype, device=dev),
            torch.empty((n,), dtype=dtype, device=dev), torch.empty((n, 2), dtype=torch.int32, device=dev),
            torch.empty((n,), dtype=dtype, device=dev))


class _ProjectFunction(torch.autograd.Function):
    """params [N, 10 | 11] packed rows (kernels.py) -> (means2d, conics, depths, radii, opacities)."""

    @staticmethod
    def forward(ctx, params, camera, from_covars):
        kernel = make_project_kernels(_dtype_name(params.dtype), from_covars, runtime.generation()).fwd
        outs = _outputs(params.shape[0], params.dtype, params.device)
        if params.shape[0]:
            kernel(params.detach(), *camera, *outs)  # detached: Taichi would allocate a .grad for it
        ctx.save_for_backward(params)
        ctx.camera, ctx.from_covars = camera, from_covars
        ctx.mark_non_differentiable(outs[3])
        return outs

    @staticmethod
    def backward(ctx, grad_means2d, grad_conics, grad_depths, grad_radii, grad_opacities):
        (params,) = ctx.saved_tensors
        kernel = make_project_kernels(_dtype_name(params.dtype), ctx.from_covars, runtime.generation()).bwd
        n, dtype, dev = params.shape[0], params.dtype, params.device
        parts = [(grad_means2d, 2), (grad_conics, 3), (grad_depths, 1), (grad_opacities, 1)]
        grads = torch.cat([torch.zeros((n, k), dtype=dtype, device=dev) if g is None else g.reshape(n, k)
                           for g, k in parts], dim=1).contiguous()  # one tensor argument: [N, 7]
        grad_params = torch.zeros_like(params)
        if n:
            kernel(params.detach(), *ctx.camera, grads, grad_params)
        return grad_params, None, None


def _camera_args(T_camera_world, intrinsics, width: int, height: int, near: float, far: float,
                 radius_sigmas: float, antialiased: bool) -> tuple:
    """Kernel scalar arguments; the pose is read on the host in float64 (Taichi casts it to the dtype)."""
    T = torch.as_tensor(T_camera_world).detach().to("cpu", torch.float64).numpy()
    assert T.shape == (4, 4), T.shape
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    return (np.ascontiguousarray(T[:3, :3]), np.ascontiguousarray(T[:3, 3]), fx, fy, cx, cy, float(width),
            float(height), float(near), float(far), float(radius_sigmas), int(bool(antialiased)))


def project_gaussians(means, log_scales, quats, opacities, T_camera_world, intrinsics, width: int,
                      height: int, *, covars=None, near: float = 0.01, far: float = 1e10,
                      radius_sigmas: float = 3.0, antialiased: bool = False) -> Projection:
    """EWA projection of world-space 3D Gaussians into one pinhole camera (DESIGN.md "project").

    means [N, 3] world; log_scales [N, 3]; quats [N, 4] wxyz, unnormalised, non-zero; opacities [N] activated,
    in (0, 1). With `covars` [N, 6] world covariances (xx, xy, xz, yy, yz, zz) pass log_scales, quats None.
    T_camera_world [4, 4] OpenCV world -> camera (read on the host: pass a CPU tensor to avoid a sync);
    intrinsics (fx, fy, cx, cy) pixels. Float inputs share one dtype (float32 / float64) and live on
    `runtime.device()`. Sigma2 is dilated by 0.3 px^2; `antialiased` scales opacity by rho (REFERENCE 2.6).
    Culled (all-zero row, radii (0, 0)): z <= near or z >= far, det <= 0, opacity < 1/255, box off-image.
    Differentiable in means, log_scales, quats (or covars) and opacities; radii are not.
    """
    runtime.ensure_init()
    n = means.shape[0]
    assert means.ndim == 2 and means.shape[1] == 3, means.shape
    assert opacities.shape == (n,), opacities.shape
    assert means.dtype in (torch.float32, torch.float64), means.dtype
    assert width > 0 and height > 0, (width, height)
    if covars is None:
        assert log_scales is not None and quats is not None, "pass log_scales and quats, or covars"
        assert log_scales.shape == (n, 3) and quats.shape == (n, 4), (log_scales.shape, quats.shape)
        columns = (means, log_scales, quats, opacities[:, None])
    else:
        assert log_scales is None and quats is None, "covars replaces log_scales and quats: pass None"
        assert covars.shape == (n, 6), covars.shape
        columns = (means, covars, opacities[:, None])
    assert all(c.dtype == means.dtype for c in columns), [c.dtype for c in columns]
    params = torch.cat(columns, dim=1).contiguous()  # one packed tensor argument (kernels.py)
    camera = _camera_args(T_camera_world, intrinsics, width, height, near, far, radius_sigmas, antialiased)
    means2d, conics, depths, radii, opacities_out = _ProjectFunction.apply(params, camera, covars is not None)
    return Projection(means2d=means2d, conics=conics, depths=depths, radii=radii, opacities=opacities_out)
