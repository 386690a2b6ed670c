"""Pure-torch SSIM and the 3DGS loss map: the reference of `op.l1_ssim_map`, and what `ngfx.train.losses` uses.

SSIM as INRIA 3DGS computes it (Wang et al. 2004; REFERENCE 2.7): an 11x11 Gaussian window with sigma 1.5,
zero padding of half a window (border pixels see fewer samples), per-channel statistics, C1 = (0.01 L)^2 and
C2 = (0.03 L)^2 for a data range L. The window is applied as two 1-D convolutions (rows, then columns), which
equals INRIA's 2-D convolution up to rounding. Images are [H, W, C] or [B, C, H, W].
"""

import functools

import torch
import torch.nn.functional as F

__all__ = ["WINDOW_SIGMA", "WINDOW_SIZE", "as_bchw", "gaussian_window", "l1_ssim_map", "ssim_map"]

WINDOW_SIZE, WINDOW_SIGMA = 11, 1.5


@functools.cache
def _window_cpu(size: int, sigma: float, dtype: torch.dtype) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(x * x) / (2 * sigma * sigma))
    return (g / g.sum()).to(dtype)


def gaussian_window(size: int = WINDOW_SIZE, sigma: float = WINDOW_SIGMA, *, dtype=torch.float32,
                    device=None) -> torch.Tensor:
    """The normalised 1-D Gaussian window [size], centred at size // 2 (the 2-D window: its outer product)."""
    return _window_cpu(size, float(sigma), dtype).to(device)


def as_bchw(image: torch.Tensor) -> torch.Tensor:
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


def ssim_map(pred: torch.Tensor, target: torch.Tensor, *, window_size: int = WINDOW_SIZE,
             sigma: float = WINDOW_SIGMA, data_range: float = 1.0) -> torch.Tensor:
    """The SSIM map [B, C, H, W] of two images of one shape ([H, W, C] or [B, C, H, W])."""
    if pred.shape != target.shape:
        raise ValueError(f"image shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
    x, y = as_bchw(pred), as_bchw(target)
    c = x.shape[1]
    window = gaussian_window(window_size, sigma, dtype=x.dtype, device=x.device)
    # one blur for the five moment images: E[x], E[y], E[x^2], E[y^2], E[xy]
    moments = _blur(torch.cat([x, y, x * x, y * y, x * y], dim=1), window)
    mu_x, mu_y, e_xx, e_yy, e_xy = moments.split(c, dim=1)
    var_x, var_y, cov = e_xx - mu_x * mu_x, e_yy - mu_y * mu_y, e_xy - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    return numerator / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))


def l1_ssim_map(pred: torch.Tensor, target: torch.Tensor, *, ssim_weight: float = 0.2,
                data_range: float = 1.0) -> torch.Tensor:
    """Per element of pred [H, W, C]: (1 - w) |pred - target| + w (1 - SSIM); its mean is the 3DGS loss."""
    s = ssim_map(pred, target, data_range=data_range)[0].permute(1, 2, 0)
    return (1.0 - ssim_weight) * (pred - target).abs() + ssim_weight * (1.0 - s)
