"""Image losses and metrics for photometric training: L1, SSIM, the 3DGS loss 0.8 L1 + 0.2 (1 - SSIM), PSNR.

SSIM follows Wang et al. 2004 as INRIA 3DGS computes it (`utils/loss_utils.py`, REFERENCE 2.7): an 11x11
Gaussian window with sigma 1.5, zero padding of half a window (so border pixels see fewer samples),
per-channel statistics, C1 = (0.01 L)^2 and C2 = (0.03 L)^2 for a data range L = 1, and the mean of the SSIM
map. The torch code is `ngfx.kernels.image.reference` (two 1-D convolutions, equal to INRIA's 2-D one up to
rounding); on CUDA `l1_ssim_loss` takes the fused Taichi map instead (`ngfx.kernels.image`).

Images are [H, W, C] (channels last, as ngfx renders) or [B, C, H, W]; values in [0, 1]. Everything here is
differentiable in both arguments (the fused map is taken only when the target needs no gradient). LPIPS is left out: it needs pretrained VGG/AlexNet weights, which cannot be
fetched offline here; evaluate it with an external tool on saved images.
"""

import torch

from ngfx.kernels.image.reference import as_bchw, gaussian_window, ssim_map

__all__ = ["gaussian_window", "l1_loss", "l1_ssim_loss", "psnr", "ssim"]


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference over every element."""
    return (pred - target).abs().mean()


def ssim(pred: torch.Tensor, target: torch.Tensor, *, window_size: int = 11, sigma: float = 1.5,
         data_range: float = 1.0, reduce: bool = True) -> torch.Tensor:
    """Mean SSIM of two images of the same shape ([H, W, C] or [B, C, H, W]), in [-1, 1], 1 when equal.
    reduce=False returns the SSIM map [B, C, H, W] instead of its mean."""
    s = ssim_map(as_bchw(pred), as_bchw(target), window_size=window_size, sigma=sigma, data_range=data_range)
    return s.mean() if reduce else s


def l1_ssim_loss(pred: torch.Tensor, target: torch.Tensor, *, ssim_weight: float = 0.2,
                 ops: str = "kernels") -> torch.Tensor:
    """(1 - w) L1 + w (1 - SSIM), w = ssim_weight (3DGS: 0.2, giving 0.8 L1 + 0.2 (1 - SSIM)).

    ops="kernels": on the CUDA backend, [H, W, C] CUDA images with a target that needs no gradient take the
    fused loss map (`ngfx.kernels.image.l1_ssim_map`, two launches each way, where these torch ops make about
    forty each way); anything else, or ops="reference", the torch ops here (equal up to rounding). The CPU
    keeps torch's: its convolutions beat the fused map there (400x400, 2 threads: 45 ms against 77 ms a
    forward and backward)."""
    if not 0.0 <= ssim_weight <= 1.0:
        raise ValueError(f"ssim_weight must be in [0, 1], got {ssim_weight}")
    if ops == "kernels" and _fused_applies(pred, target):
        from ngfx.kernels.image import l1_ssim_map

        return l1_ssim_map(pred, target, ssim_weight=ssim_weight).mean()
    loss = (1.0 - ssim_weight) * l1_loss(pred, target)
    if ssim_weight > 0:
        loss = loss + ssim_weight * (1.0 - ssim(pred, target))
    return loss


def _fused_applies(pred: torch.Tensor, target: torch.Tensor) -> bool:
    from ngfx.kernels import runtime

    return (runtime.arch() == "cuda" and pred.is_cuda and target.is_cuda and pred.ndim == 3
            and pred.shape == target.shape and not target.requires_grad
            and pred.dtype in (torch.float32, torch.float64) and target.dtype == pred.dtype)


def psnr(pred: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, 10 log10(L^2 / MSE) over all elements (average per-image PSNRs
    yourself for a test set, as the 3DGS papers do); +inf when the images are equal."""
    mse = ((pred - target) ** 2).mean()
    return 10.0 * torch.log10(data_range**2 / mse)  # mse = 0 gives +inf, without a device sync
