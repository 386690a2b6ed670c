"""Triangle rasterization (Taichi) with a torch reference; interpolation and texturing in torch."""

from ngfx.kernels.trimesh.op import RasterOutput, interpolate, interpolate_corners, rasterize, sample_texture

__all__ = ["RasterOutput", "rasterize", "interpolate", "interpolate_corners", "sample_texture"]
