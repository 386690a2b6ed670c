"""Image kernels for photometric training: the per-pixel 3DGS loss map (1 - w) |x - y| + w (1 - SSIM) in two
Taichi launches each way, with its torch reference."""

from ngfx.kernels.image.op import l1_ssim_map

__all__ = ["l1_ssim_map"]
