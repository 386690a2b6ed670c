"""Image losses and metrics for photometric training: L1, SSIM, the 3DGS loss 0.8 L1 + 0.2 (1 - SSIM), PSNR.

SSIM follows Wang et al. 2004 as INRIA 3DGS computes it (`utils/loss_utils.py`, REFERENCE 2.7): an 11x11
Gaussian window with sigma 1.5, zero padding of half a window (so border pixels see fewer samples),
per-channel statistics, C1 = (0.01 L)^2 and C2 = (0.03 L)^2 for a data range L = 1, and the mean of the SSIM
map. The window is applied as two 1-D convolutions (rows, then columns), which equals INRIA's 2-D convolution
up to rounding.

Images are [H, W, C] (channels last, as ngfx renders) or [B, C, H, W]; values in [0, 1]. Everything here is
differentiable in both arguments. LPIPS is left out: it needs pretrained VGG/AlexNet weights, which cannot be
fetched offline here; evaluate it with an external tool on saved images.
"""

import functools

import torch
import torch.nn.functional as F

__all__ = ["gaussian_window", "l1_loss", "l1_ssim_loss", "psnr", "ssim"]


def l1_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference over every element."""
    return (pred - target).abs().mean()


@functools.cache
def _window_cpu(size: int, sigma: float, dtype: torch.dtype) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(x * x) / (2 * sigma * sigma))
    return (g / g.sum()).to(dtype)


def gaussian_window(size: int = 11, sigma: float = 1.5, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """The normalised 1-D Gaussian window [size], centred at size // 2 (the 2-D window: its outer product)."""
    return _window_cpu(size, float(sigma), dtype).to(device)


def _as_bchw(image: torch.Tensor) -> torch.Tensor:
    if image.ndim == 3:
        return image.permute(2, 0, 1).unsqueeze(0)
    if image.ndim == 4:
        return image
    raise ValueError(f"expected an image [H, W, C] or a batch [B, C, H, W], got shape {tuple(image.shape)}")


def _blur(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable zero-padded Gaussian blur of every channel of x [B, C, H, W]."""
    c, k = x.shape[1], window.shape[0]
    rows = window.view(1, 1, 1, k).expand(c, 1, 1, k)
    cols = window.view(1, 1, k, 1).expand(c, 1, k, 1)
    x = F.conv2d(x, rows, padding=(0, k // 2), groups=c)
    return F.conv2d(x, cols, padding=(k // 2, 0), groups=c)


def ssim(pred: torch.Tensor, target: torch.Tensor, *, window_size: int = 11, sigma: float = 1.5,
         data_range: float = 1.0, reduce: bool = True) -> torch.Tensor:
    """Mean SSIM of two images of the same shape ([H, W, C] or [B, C, H, W]), in [-1, 1], 1 when equal.
    reduce=False returns the SSIM map [B, C, H, W] instead of its mean."""
    if pred.shape != target.shape:
        raise ValueError(f"image shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    x, y = _as_bchw(pred), _as_bchw(target)
    c = x.shape[1]
    window = gaussian_window(window_size, sigma, dtype=x.dtype, device=x.device)
    # one blur for the five moment images: E[x], E[y], E[x^2], E[y^2], E[xy]
    moments = _blur(torch.cat([x, y, x * x, y * y, x * y], dim=1), window)
    mu_x, mu_y, e_xx, e_yy, e_xy = moments.split(c, dim=1)
    var_x, var_y, cov = e_xx - mu_x * mu_x, e_yy - mu_y * mu_y, e_xy - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    ssim_map = numerator / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    return ssim_map.mean() if reduce else ssim_map


def l1_ssim_loss(pred: torch.Tensor, target: torch.Tensor, *, ssim_weight: float = 0.2) -> torch.Tensor:
    """(1 - w) L1 + w (1 - SSIM), w = ssim_weight (3DGS: 0.2, giving 0.8 L1 + 0.2 (1 - SSIM))."""
    if not 0.0 <= ssim_weight <= 1.0:
        raise ValueError(f"ssim_weight must be in [0, 1], got {ssim_weight}")
    loss = (1.0 - ssim_weight) * l1_loss(pred, target)
    if ssim_weight > 0:
        loss = loss + ssim_weight * (1.0 - ssim(pred, target))
    return loss


def psnr(pred: torch.Tensor, target: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, 10 log10(L^2 / MSE) over all elements (average per-image PSNRs
    yourself for a test set, as the 3DGS papers do); +inf when the images are equal."""
    mse = ((pred - target) ** 2).mean()
    return 10.0 * torch.log10(data_range**2 / mse)  # mse = 0 gives +inf, without a device sync
