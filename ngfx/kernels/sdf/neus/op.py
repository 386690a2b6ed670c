"""Public `neus_alpha`: the NeuS opacity of ray sections in one Taichi launch each way (kernels.py), equal to the
torch reference (reference.py, which has the formula, the sign convention of cos and the 1e-5 epsilon).
"""

import torch

from ngfx.kernels import runtime
from ngfx.kernels.sdf.neus.kernels import make_neus_kernels

__all__ = ["neus_alpha"]

_NAMES = {torch.float32: "f32", torch.float64: "f64"}


def _kernels(dtype: torch.dtype):
    return make_neus_kernels(_NAMES[dtype], runtime.generation())


class _NeusAlpha(torch.autograd.Function):
    @staticmethod
    def forward(ctx, sdf, cos, deltas, inv_s, ratio):
        stride = int(inv_s.shape[0] != 1)
        alpha = torch.empty_like(sdf)
        if sdf.shape[0]:
            _kernels(sdf.dtype).fwd(sdf, cos, deltas, inv_s, stride, ratio, alpha)
        ctx.save_for_backward(sdf, cos, deltas, inv_s)
        ctx.ratio = ratio
        return alpha

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_alpha):
        sdf, cos, deltas, inv_s = ctx.saved_tensors
        stride = int(inv_s.shape[0] != 1)
        grads = sdf.new_zeros((sdf.shape[0], 4))
        if sdf.shape[0]:
            _kernels(sdf.dtype).bwd(sdf, cos, deltas, inv_s, stride, ctx.ratio, grad_alpha.contiguous(), grads)
        grad_inv_s = grads[:, 3] if stride else grads[:, 3].sum().reshape(1)
        return grads[:, 0], grads[:, 1], grads[:, 2], grad_inv_s, None


def neus_alpha(sdf: torch.Tensor, normals_dot_dirs: torch.Tensor, deltas: torch.Tensor, inv_s,
               *, cos_anneal_ratio: float = 1.0) -> torch.Tensor:
    """NeuS discrete opacity alpha [S] in [0, 1] of S ray sections (reference.py has the formula).

    sdf: [S] SDF at each section's midpoint, normals_dot_dirs: [S] d . grad f there (negative where the ray
    enters the surface), deltas: [S] section lengths (same units as the SDF), all float32 or float64 on
    runtime.device(); inv_s: the sharpness s of Phi = sigmoid(s x), a scalar tensor (or float) shared by all
    sections or an [S] tensor, positive in practice (NeuS: exp(10 param)); cos_anneal_ratio in [0, 1].
    Differentiable in sdf, normals_dot_dirs, deltas and inv_s (hand-written backward kernel)."""
    runtime.ensure_init()
    if sdf.dtype not in _NAMES:
        raise ValueError(f"sdf must be float32 or float64, got {sdf.dtype}")
    if sdf.ndim != 1 or normals_dot_dirs.shape != sdf.shape or deltas.shape != sdf.shape:
        raise ValueError(f"sdf, normals_dot_dirs and deltas must be [S] of one shape, got {tuple(sdf.shape)}, "
                         f"{tuple(normals_dot_dirs.shape)} and {tuple(deltas.shape)}")
    if normals_dot_dirs.dtype != sdf.dtype or deltas.dtype != sdf.dtype:
        raise ValueError(f"one float dtype for all sections, got {sdf.dtype}, {normals_dot_dirs.dtype}, "
                         f"{deltas.dtype}")
    if not 0.0 <= cos_anneal_ratio <= 1.0:
        raise ValueError(f"cos_anneal_ratio must be in [0, 1], got {cos_anneal_ratio}")
    inv_s = torch.as_tensor(inv_s, dtype=sdf.dtype, device=sdf.device)
    if inv_s.numel() != 1 and tuple(inv_s.shape) != tuple(sdf.shape):
        raise ValueError(f"inv_s must be a scalar or [S] = {tuple(sdf.shape)}, got {tuple(inv_s.shape)}")
    return _NeusAlpha.apply(sdf.contiguous(), normals_dot_dirs.contiguous(), deltas.contiguous(),
                            inv_s.reshape(-1).contiguous(), float(cos_anneal_ratio))
