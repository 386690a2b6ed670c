"""Public 4D slicing op `slice_gaussians_4d` (Taichi, hand-written backward) and its `Slice` result.

Method and conventions: reference.py (same signature, pure torch). The backward is the hand-written
`slice_bwd` kernel (kernels.py says why not Taichi autodiff); tests/kernels/test_splat_slice4d.py checks it
against torch autograd and by an f64 gradcheck, including the cull and the rotor |eps| branches.
"""

import dataclasses

import torch

from ngfx.kernels import runtime
from ngfx.kernels.splat.slice4d.kernels import make_slice_kernels

__all__ = ["ROTATIONS", "Slice", "slice_gaussians_4d"]

ROTATIONS = ("dualquat", "rotor")


@dataclasses.dataclass(frozen=True)
class Slice:
    """3D Gaussians at one time t, from 4D Gaussians (world frame, the units of the inputs).

    means:      [N, 3] conditional means mu_xyz + v (t - mu_t).
    covars:     [N, 6] conditional covariances (xx, xy, xz, yy, yz, zz) = U - V V^T / w4.
    opacities:  [N] opacity * p(t), p(t) = exp(-0.5 (t - mu_t)^2 / w4); 0 where culled.
    visible:    [N] bool, p(t) > min_temporal_weight (not differentiable).
    velocities: [N, 3] v = V / w4, world units per time unit (for Duan's 4D-consistency loss).
    """

    means: torch.Tensor
    covars: torch.Tensor
    opacities: torch.Tensor
    visible: torch.Tensor
    velocities: torch.Tensor


def _kernels(dtype: torch.dtype):
    """slice_fwd / slice_bwd of the current Taichi runtime for this dtype."""
    return make_slice_kernels("f32" if dtype == torch.float32 else "f64", runtime.generation())


class _SliceFunction(torch.autograd.Function):
    """Inputs: means4, log_scales4, rotations, opacities (differentiable), then time, is_rotor, min_weight."""

    @staticmethod
    def forward(ctx, means4, log_scales4, rotations, opacities, time, is_rotor, min_weight):
        inputs = [x.detach() for x in (means4, log_scales4, rotations, opacities)]  # Taichi must not see grads
        n, like = means4.shape[0], {"dtype": means4.dtype, "device": means4.device}
        outs = [torch.empty(shape, **like) for shape in ((n, 3), (n, 6), (n,), (n, 3))]
        visible = torch.empty((n,), dtype=torch.int32, device=means4.device)
        if n:
            _kernels(means4.dtype).slice_fwd(*inputs, time, is_rotor, min_weight, *outs, visible)
        ctx.save_for_backward(*inputs)
        ctx.scalars = (time, is_rotor, min_weight)
        visible = visible.bool()
        ctx.mark_non_differentiable(visible)
        return (*outs, visible)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_means, grad_covars, grad_opacities, grad_velocities, grad_visible):
        del grad_visible
        inputs = ctx.saved_tensors
        grads_out = [g.detach().contiguous() for g in (grad_means, grad_covars, grad_opacities, grad_velocities)]
        grads_in = [torch.empty_like(x) for x in inputs]
        if inputs[0].shape[0]:
            _kernels(inputs[0].dtype).slice_bwd(*inputs, *ctx.scalars, *grads_out, *grads_in)
        return (*grads_in, None, None, None)


def slice_gaussians_4d(means4: torch.Tensor, log_scales4: torch.Tensor, rotations: torch.Tensor,
                       opacities: torch.Tensor, time: float, *, rotation: str = "dualquat",
                       min_temporal_weight: float = 0.05) -> Slice:
    """Condition 4D Gaussians on time `time` -> 3D Gaussians (REFERENCE 3.3; method in reference.py).

    means4 [N, 4] (x, y, z, t) world units and time units; log_scales4 [N, 4] natural log of the standard
    deviations along the rotated axes; rotations [N, 8]: "dualquat" = (q_l wxyz, q_r wxyz), unnormalized,
    or "rotor" = (s, b_xy, b_xz, b_yz, b_xw, b_yw, b_zw, p), normalized here (Duan's rule, always);
    opacities [N] activated, in (0, 1). All float tensors share one dtype (float32 or float64) and live on
    `runtime.device()`. A row is culled (visible False, opacity 0) when p(t) <= min_temporal_weight; Yang
    uses 0.05, Duan's 0.5 (t - mu_t)^2 / w4 >= 16 is min_temporal_weight = exp(-16).
    Differentiable in means4, log_scales4, rotations and opacities (not in time).
    """
    runtime.ensure_init()
    if rotation not in ROTATIONS:
        raise ValueError(f"rotation must be 'dualquat' or 'rotor', got {rotation!r}")
    n = means4.shape[0]
    assert means4.ndim == 2 and means4.shape[1] == 4, means4.shape
    assert log_scales4.shape == (n, 4), log_scales4.shape
    assert rotations.shape == (n, 8), rotations.shape
    assert opacities.shape == (n,), opacities.shape
    assert means4.dtype in (torch.float32, torch.float64), means4.dtype
    assert all(x.dtype == means4.dtype for x in (log_scales4, rotations, opacities)), "mixed dtypes"
    args = (means4.contiguous(), log_scales4.contiguous(), rotations.contiguous(), opacities.contiguous())
    means, covars, opacities_t, velocities, visible = _SliceFunction.apply(
        *args, float(time), int(rotation == "rotor"), float(min_temporal_weight))
    return Slice(means=means, covars=covars, opacities=opacities_t, visible=visible, velocities=velocities)
