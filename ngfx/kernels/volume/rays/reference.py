"""Pure-torch camera rays: the reference of `op.generate_rays` (same signature) and `distance_to_depth`.

Convention (REFERENCE 1.1-1.2, `ngfx.scenes.camera`): OpenCV camera frame, +x right, +y down, +z forward;
pixel (i, j) (column i, row j) covers [i, i+1) x [j, j+1), so its centre is (i + 0.5, j + 0.5) and the
camera-frame direction through image point (u, v) is ((u - cx) / fx, (v - cy) / fy, 1). World directions
are that vector rotated by T_world_camera's 3x3 block and then normalised; origins are the camera centre
(T_world_camera's last column). A ray distance t (world units) is camera z = t * (row 2 of T_camera_world's
3x3 block) . direction, which for a rigid camera is t * dir_cam.z: `distance_to_depth`.
"""

import numpy as np
import torch

__all__ = ["distance_to_depth", "generate_rays", "image_points", "pose_rows", "split_intrinsics"]


def split_intrinsics(intrinsics) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy) in pixels from a 4-sequence (fx, fy, cx, cy) or a 3x3 K."""
    k = np.asarray(intrinsics.detach().cpu() if isinstance(intrinsics, torch.Tensor) else intrinsics,
                   dtype=np.float64)
    if k.shape == (3, 3):
        k = k[[0, 1, 0, 1], [0, 1, 2, 2]]
    if k.shape != (4,):
        raise ValueError(f"intrinsics must be (fx, fy, cx, cy) or a 3x3 K, got shape {k.shape}")
    fx, fy, cx, cy = (float(v) for v in k)
    if not (fx > 0 and fy > 0):
        raise ValueError(f"focal lengths must be positive, got fx={fx:g}, fy={fy:g}")
    return fx, fy, cx, cy


def pose_rows(T_world_camera, dtype: torch.dtype, device) -> torch.Tensor:
    """The top [3, 4] rows (rotation | camera centre) of a camera-to-world 4x4 (or 3x4) tensor/array."""
    T = torch.as_tensor(T_world_camera.detach() if isinstance(T_world_camera, torch.Tensor) else
                        np.asarray(T_world_camera), dtype=dtype, device=device)
    if tuple(T.shape) not in ((4, 4), (3, 4)):
        raise ValueError(f"T_world_camera must be 4x4 or 3x4, got shape {tuple(T.shape)}")
    return T[:3].contiguous()


def image_points(width: int, height: int, *, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Pixel centres (i + 0.5, j + 0.5) of a width x height image, row-major (row j * width + i): [H W, 2]."""
    js, is_ = torch.meshgrid(torch.arange(height, dtype=dtype, device=device),
                             torch.arange(width, dtype=dtype, device=device), indexing="ij")
    return torch.stack([is_.reshape(-1), js.reshape(-1)], dim=-1) + 0.5


def generate_rays(T_world_camera, intrinsics, width: int, height: int, *, pixels: torch.Tensor | None = None,
                  dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """(origins [R, 3], directions [R, 3]) in world coordinates, directions of unit length (module docstring).

    pixels: None for every pixel centre of the width x height image, row-major; else [R, 2] continuous image
    points (u, v) in pixels, already including any +0.5. Output on pixels' device (else the CPU)."""
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be >= 1, got {width} x {height}")
    fx, fy, cx, cy = split_intrinsics(intrinsics)
    device = pixels.device if pixels is not None else None
    uv = image_points(width, height, dtype=dtype, device=device) if pixels is None else pixels.to(dtype)
    rows = pose_rows(T_world_camera, dtype, uv.device)
    d_cam = torch.stack([(uv[:, 0] - cx) / fx, (uv[:, 1] - cy) / fy, torch.ones_like(uv[:, 0])], dim=-1)
    d_world = d_cam @ rows[:, :3].T
    directions = d_world / torch.linalg.vector_norm(d_world, dim=-1, keepdim=True)
    origins = rows[:, 3].expand_as(directions).clone()
    return origins, directions


def distance_to_depth(t: torch.Tensor, directions: torch.Tensor, T_world_camera) -> torch.Tensor:
    """Camera-space z (ngfx depth maps) of the points at distance t [...] along directions [..., 3]
    (world frame, from `generate_rays`): t * (row 2 of T_camera_world's 3x3 block) . direction. For a rigid
    camera this is t * dir_cam.z = t / |((u - cx) / fx, (v - cy) / fy, 1)|. Differentiable in t."""
    rows = pose_rows(T_world_camera, directions.dtype, directions.device)
    z_row = torch.linalg.inv(rows[:, :3])[2]  # maps a world offset to its camera z (any scale in the pose)
    return t * (directions @ z_row)
