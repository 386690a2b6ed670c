"""Tile-based Gaussian splat rasterizer (Taichi) with a hand-written backward and a torch reference."""

from ngfx.kernels.splat.rasterize.op import rasterize_gaussians
from ngfx.kernels.splat.rasterize.outputs import SplatImage

__all__ = ["SplatImage", "rasterize_gaussians"]
