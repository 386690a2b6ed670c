"""Public `l1_ssim_map`: the per-element 3DGS loss map in two Taichi launches each way (kernels.py), where
the torch reference (reference.py) takes about forty ops forward and as many backward: the training step's
loss on the launch budget of issue 9. Its mean is `ngfx.train.losses.l1_ssim_loss`.
"""

import torch

from ngfx.kernels import runtime
from ngfx.kernels.image.kernels import make_ssim_kernels
from ngfx.kernels.image.reference import WINDOW_SIGMA, WINDOW_SIZE

__all__ = ["l1_ssim_map"]


def _kernels(dtype: torch.dtype):
    return make_ssim_kernels("f32" if dtype == torch.float32 else "f64", WINDOW_SIZE, WINDOW_SIGMA,
                             runtime.generation())


class _L1Ssim(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pred, target, ssim_weight, c1, c2):
        k = _kernels(pred.dtype)
        x, y = pred.detach(), target.detach()
        rows, terms = x.new_empty((*x.shape, 5)), torch.empty_like(x)
        want = pred.requires_grad
        partials = x.new_empty((*x.shape, 3) if want else (1, 1, 1, 3))
        k.fwd_rows(x, y, rows)
        k.fwd_cols(x, y, rows, ssim_weight, c1, c2, int(want), terms, partials)
        ctx.save_for_backward(x, y, partials)
        ctx.ssim_weight = ssim_weight
        return terms

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_terms):
        x, y, partials = ctx.saved_tensors
        k = _kernels(x.dtype)
        grad_terms = grad_terms.contiguous()
        rows, grad = torch.empty_like(partials), torch.empty_like(x)
        k.bwd_rows(partials, grad_terms, rows)
        k.bwd_cols(x, y, rows, grad_terms, ctx.ssim_weight, grad)
        return grad, None, None, None, None


def l1_ssim_map(pred: torch.Tensor, target: torch.Tensor, *, ssim_weight: float = 0.2,
                data_range: float = 1.0) -> torch.Tensor:
    """(1 - w) |pred - target| + w (1 - SSIM) per element of [H, W, C] images (same shape, float32 or
    float64, on the backend's device), SSIM with INRIA's 11 x 11 window of sigma 1.5 and zero padding
    (reference.py). Differentiable in pred only: the target gets no gradient."""
    runtime.ensure_init()
    if pred.shape != target.shape or pred.ndim != 3:
        raise ValueError(f"expected two [H, W, C] images of one shape, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    if not 0.0 <= ssim_weight <= 1.0:
        raise ValueError(f"ssim_weight must be in [0, 1], got {ssim_weight}")
    assert pred.dtype in (torch.float32, torch.float64) and target.dtype == pred.dtype, (pred.dtype, target.dtype)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return _L1Ssim.apply(pred.contiguous(), target.contiguous(), float(ssim_weight), c1, c2)
