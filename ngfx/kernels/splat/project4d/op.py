"""Public fused op `project_gaussians_4d`: 4D Gaussians at time t straight to screen-space splats.

Equivalent to `slice_gaussians_4d` followed by `project_gaussians(covars=...)` (reference.py composes those
two references; the tests check the equivalence and the gradients), in one kernel launch each way.
"""

import dataclasses

import numpy as np
import torch

from ngfx.kernels import runtime
from ngfx.kernels.splat.project.op import Projection
from ngfx.kernels.splat.project4d.kernels import N_OUT, make_project4d_kernels

__all__ = ["Projection4D", "project_gaussians_4d"]


@dataclasses.dataclass(frozen=True)
class Projection4D:
    """`projection` as from `project_gaussians`; `means3d` [N, 3] the sliced (conditional) world means, zero
    where the temporal cull dropped the Gaussian (they set the SH view directions); `visible` [N] bool,
    radii > 0 (survived the temporal cull and the projection)."""

    projection: Projection
    means3d: torch.Tensor
    visible: torch.Tensor


def _kernels(dtype: torch.dtype):
    k = make_project4d_kernels("f32" if dtype == torch.float32 else "f64", runtime.generation())
    return k.fwd, k.bwd


class _Project4DFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, params, scalars):
        fwd, _ = _kernels(params.dtype)
        n = params.shape[0]
        out = torch.empty((n, N_OUT), dtype=params.dtype, device=params.device)
        radii = torch.empty((n, 2), dtype=torch.int32, device=params.device)
        if n:
            fwd(params.detach(), *scalars, out, radii)
        ctx.save_for_backward(params)
        ctx.scalars = scalars
        ctx.mark_non_differentiable(radii)
        return out, radii

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out, grad_radii):
        (params,) = ctx.saved_tensors
        _, bwd = _kernels(params.dtype)
        grads = grad_out[:, :10].contiguous()  # the weight column is not differentiated (not an output)
        grad_params = torch.empty_like(params)
        if params.shape[0]:
            bwd(params, *ctx.scalars, grads, grad_params)
        return grad_params, None


def project_gaussians_4d(means4, log_scales4, rotations, opacities, time: float, T_camera_world, intrinsics,
                         width: int, height: int, *, rotation: str = "dualquat", min_temporal_weight: float = 0.05,
                         near: float = 0.01, far: float = 1e10, radius_sigmas: float = 3.0,
                         antialiased: bool = False) -> Projection4D:
    """Slice 4D Gaussians at `time` (slice4d) and project them (project), fused. Arguments as those two ops:
    means4 [N, 4], log_scales4 [N, 4], rotations [N, 8] ("dualquat" | "rotor"), opacities [N] activated;
    T_camera_world [4, 4] OpenCV (read on the host); intrinsics (fx, fy, cx, cy) px, centres at +0.5.
    Differentiable in means4, log_scales4, rotations, opacities (through the splats and `means3d`)."""
    runtime.ensure_init()
    if rotation not in ("dualquat", "rotor"):
        raise ValueError(f"rotation must be 'dualquat' or 'rotor', got {rotation!r}")
    n = means4.shape[0]
    assert means4.shape == (n, 4) and log_scales4.shape == (n, 4), (means4.shape, log_scales4.shape)
    assert rotations.shape == (n, 8) and opacities.shape == (n,), (rotations.shape, opacities.shape)
    assert means4.dtype in (torch.float32, torch.float64), means4.dtype
    params = torch.cat([means4, log_scales4, rotations, opacities[:, None]], dim=1).contiguous()
    T = torch.as_tensor(T_camera_world).detach().to("cpu", torch.float64).numpy()
    assert T.shape == (4, 4), T.shape
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    scalars = (np.ascontiguousarray(T[:3, :3]), np.ascontiguousarray(T[:3, 3]), fx, fy, cx, cy, float(width),
               float(height), float(near), float(far), float(radius_sigmas), int(bool(antialiased)), float(time),
               int(rotation == "rotor"), float(min_temporal_weight))
    out, radii = _Project4DFunction.apply(params, scalars)
    proj = Projection(means2d=out[:, 0:2], conics=out[:, 2:5], depths=out[:, 5], radii=radii,
                      opacities=out[:, 6])
    return Projection4D(projection=proj, means3d=out[:, 7:10], visible=(radii > 0).any(dim=1))
