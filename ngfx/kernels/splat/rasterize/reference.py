"""Pure-torch reference rasterizer: same signature and outputs as `ngfx.kernels.splat.rasterize`.

It blends the same (Gaussian, pixel) pairs as the kernel, tile by tile, with dense [pixels, Gaussians]
matrices, so its backward is plain autograd (gsplat's `_torch_impl` scheme, REFERENCE 8.1). The kernel's
branches become masks computed without gradient:
    power > 0 -> skipped;  alpha = min(0.99, o e^power);  alpha < 1/255 -> skipped;
    the first kept Gaussian with T (1 - alpha) < 1e-4 and every one after it -> dropped;
transmittance is the exclusive cumulative product of (1 - alpha) over the kept Gaussians.
Slow (a Python loop over tiles): for tests and tiny images only.
"""

import torch

from ngfx.kernels.splat.rasterize.kernels import ALPHA_MAX, ALPHA_MIN, T_MIN, TILE
from ngfx.kernels.splat.rasterize.outputs import SplatImage

__all__ = ["rasterize_gaussians", "rasterize_packed"]


def _tile_pixels(tile: int, tiles_x: int, width: int, height: int, device):
    """Column and row indices of the pixels of `tile` that lie inside the image, row-major."""
    x0, y0 = (tile % tiles_x) * TILE, (tile // tiles_x) * TILE
    ys, xs = torch.meshgrid(torch.arange(y0, min(y0 + TILE, height), device=device),
                            torch.arange(x0, min(x0 + TILE, width), device=device), indexing="ij")
    return xs.reshape(-1), ys.reshape(-1)


def _blend_tile(ids, xs, ys, means2d, conics, opacities, chans):
    """Blended channels [p, C], T_final [p], median depth [p] and last id [p] of one tile's pixels."""
    dtype = means2d.dtype
    dx = means2d[ids, 0][None, :] - (xs.to(dtype)[:, None] + 0.5)
    dy = means2d[ids, 1][None, :] - (ys.to(dtype)[:, None] + 0.5)
    a, b, c = (conics[ids, k][None, :] for k in range(3))
    power = -0.5 * (a * dx * dx + c * dy * dy) - b * dx * dy
    alpha = torch.clamp(opacities[ids][None, :] * torch.exp(power.clamp(max=0.0)), max=ALPHA_MAX)
    with torch.no_grad():
        valid = (power <= 0) & (alpha >= ALPHA_MIN)
        t_after = torch.cumprod(1.0 - torch.where(valid, alpha, 0.0), dim=1)
        kept = valid & (t_after >= T_MIN)  # t_after only falls, so this drops the stop and all after it
    alpha = torch.where(kept, alpha, 0.0)
    t_after = torch.cumprod(1.0 - alpha, dim=1)
    t_before = torch.cat([torch.ones_like(t_after[:, :1]), t_after[:, :-1]], dim=1)
    blended = (alpha * t_before) @ chans[ids]
    with torch.no_grad():
        crossed = kept & (t_after <= 0.5)
        first = torch.where(crossed.any(1), crossed.int().argmax(1), -1)
        median = torch.where(first >= 0, chans[ids, -1][first.clamp(min=0)], 0.0)
        last_pos = torch.where(kept.any(1), kept.shape[1] - 1 - kept.flip(1).int().argmax(1), -1)
        last_ids = torch.where(last_pos >= 0, ids[last_pos.clamp(min=0)], -1)
    return blended, t_after[:, -1], median, last_ids


def rasterize_gaussians(means2d, conics, opacities, features, depths, tile_ranges, point_ids, width: int,
                        height: int, *, background=None) -> SplatImage:
    """Front-to-back compositing of 2D Gaussians, same conventions as the kernel (op.py)."""
    n_features, dev = features.shape[1], means2d.device
    tiles_x = -(-width // TILE)
    chans = torch.cat([features, depths[:, None]], dim=1)
    parts, pixel_index = [], []
    for tile in range(tile_ranges.shape[0]):
        xs, ys = _tile_pixels(tile, tiles_x, width, height, dev)
        if xs.numel() == 0:
            continue
        start, end = (int(v) for v in tile_ranges[tile])
        ids = point_ids[start:end].long()
        if ids.numel():
            parts.append(_blend_tile(ids, xs, ys, means2d, conics, opacities, chans))
        else:
            p = xs.numel()
            parts.append((chans.new_zeros((p, n_features + 1)), chans.new_ones(p), chans.new_zeros(p),
                          torch.full((p,), -1, dtype=torch.int64, device=dev)))
        pixel_index.append(ys * width + xs)
    order = torch.argsort(torch.cat(pixel_index))  # every pixel appears once: back to row-major order
    blended, T_final, median, last_ids = (torch.cat([p[k] for p in parts])[order] for k in range(4))
    color = blended[:, :n_features]
    if background is not None:
        color = color + T_final[:, None] * background
    alpha = 1.0 - T_final
    depth = torch.where(alpha > 0, blended[:, n_features] / torch.where(alpha > 0, alpha, 1.0), 0.0)
    hw = (height, width)
    return SplatImage(features=color.reshape(*hw, n_features), alpha=alpha.reshape(hw),
                      depth=depth.reshape(hw), median_depth=median.reshape(hw),
                      last_ids=last_ids.to(torch.int32).reshape(hw))


def rasterize_packed(gaussians, tile_ranges, point_ids, width: int, height: int, *, background=None) -> SplatImage:
    """Same signature and outputs as op.rasterize_packed: unpack the rows, then `rasterize_gaussians`."""
    f = gaussians.shape[1] - 7
    g = gaussians
    return rasterize_gaussians(g[:, 0:2], g[:, 2:5], g[:, 5], g[:, 6:6 + f], g[:, 6 + f], tile_ranges, point_ids,
                               width, height, background=background)
