"""Camera rays for ray-marched fields: one ray per pixel centre or per given image point (OpenCV frame,
pixel centres at +0.5), a Taichi kernel with its torch reference."""

from ngfx.kernels.volume.rays.op import distance_to_depth, generate_rays

__all__ = ["distance_to_depth", "generate_rays"]
