"""Public `generate_rays`: camera rays in one Taichi launch (kernels.py), equal to the torch reference
(reference.py, which states the convention). Forward only: rays carry no gradient to the camera.

Depth: a sample at distance t along a ray lies at camera z = t * dir_cam.z (ngfx depth maps are camera z);
`distance_to_depth(t, directions, T_world_camera)` computes it from the world directions.
"""

import torch

from ngfx.kernels import runtime
from ngfx.kernels.volume.rays.kernels import make_ray_kernels
from ngfx.kernels.volume.rays.reference import distance_to_depth, pose_rows, split_intrinsics

__all__ = ["distance_to_depth", "generate_rays"]

_NAMES = {torch.float32: "f32", torch.float64: "f64"}


@torch.no_grad()
def generate_rays(T_world_camera, intrinsics, width: int, height: int, *, pixels: torch.Tensor | None = None,
                  dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """World rays of a pinhole camera: (origins [R, 3], directions [R, 3]), directions of unit length.

    T_world_camera: camera-to-world 4x4 (or 3x4) tensor or numpy array in the OpenCV camera frame (+x
    right, +y down, +z forward). intrinsics: (fx, fy, cx, cy) in pixels, or a 3x3 K.
    pixels: None for one ray per pixel centre (i + 0.5, j + 0.5) of the width x height image, row-major
    (R = H W, ray j * width + i); else [R, 2] continuous image points (u, v) in pixels that already include
    any +0.5 (width and height are then only checked). Float32 by default (`dtype` float64 for tests), on
    `runtime.device()`. The camera z of a point at distance t is t * dir_cam.z: `distance_to_depth`.
    Not differentiable.
    """
    runtime.ensure_init()
    if dtype not in _NAMES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be >= 1, got {width} x {height}")
    fx, fy, cx, cy = split_intrinsics(intrinsics)
    dev = runtime.device()
    pose = pose_rows(T_world_camera, dtype, dev)
    k = make_ray_kernels(_NAMES[dtype], runtime.generation())
    if pixels is None:
        n = width * height
    else:
        if pixels.ndim != 2 or pixels.shape[1] != 2 or not pixels.is_floating_point():
            raise ValueError(f"pixels must be a float [R, 2] tensor, got {tuple(pixels.shape)} "
                             f"{pixels.dtype}")
        pixels = pixels.detach().to(device=dev, dtype=dtype).contiguous()
        n = pixels.shape[0]
    origins = torch.empty((n, 3), dtype=dtype, device=dev)
    directions = torch.empty((n, 3), dtype=dtype, device=dev)
    if n == 0:  # Taichi gets no zero-sized arrays
        return origins, directions
    if pixels is None:
        k.grid(pose, fx, fy, cx, cy, width, height, origins, directions)
    else:
        k.points(pose, pixels, fx, fy, cx, cy, origins, directions)
    return origins, directions
