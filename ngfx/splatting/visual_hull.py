"""Initial points from foreground masks: a voxel visual hull (for captures without a point cloud, e.g. Panoptic).

A voxel of a grid over the scene box is kept when every training camera that sees it (centre in front of the
camera and inside its image) sees it on foreground, and at least two cameras see it. Dynamic captures carve
one hull per sampled time and keep their union, so moving foreground is covered at every time. Points are
drawn uniformly from the kept voxels (jittered inside them). Masks are read at a reduced size: the hull is
a coarse starting point that densification refines.
"""

import torch

from ngfx.scenes.captures import LoadOptions, load_frame_image

__all__ = ["visual_hull_points"]


def _masks(frames, max_width: int):
    """(mask [H, W] float, Camera of that mask) per frame, read at most max_width pixels wide."""
    out = []
    for frame in frames:
        downscale = max(1, frame.camera.width // max_width)
        image = load_frame_image(frame, LoadOptions(downscale=downscale))
        if image.mask is not None:
            out.append((image.mask, image.camera))
    return out


def _carve(centres: torch.Tensor, masks) -> torch.Tensor:
    """Keep mask [V] of voxel centres [V, 3] (float64) against (mask, camera) pairs."""
    seen = torch.zeros(centres.shape[0], dtype=torch.int32)
    keep = torch.ones(centres.shape[0], dtype=torch.bool)
    for mask, cam in masks:
        T = torch.as_tensor(cam.T_camera_world, dtype=torch.float64)
        p = centres @ T[:3, :3].T + T[:3, 3]
        z = p[:, 2].clamp_min(1e-9)
        u = cam.fx * p[:, 0] / z + cam.cx
        v = cam.fy * p[:, 1] / z + cam.cy
        inside = (p[:, 2] > 0) & (u >= 0) & (v >= 0) & (u < mask.shape[1]) & (v < mask.shape[0])
        fg = torch.zeros_like(inside)
        fg[inside] = mask[v[inside].long(), u[inside].long()] > 0.5
        keep &= ~inside | fg
        seen += inside.int()
    return keep & (seen >= 2)


def visual_hull_points(capture, frames, box, n: int, generator: torch.Generator, *, resolution: int = 80,
                       max_times: int = 4, max_width: int = 160) -> torch.Tensor | None:
    """[n, 3] float64 world points inside the masks' visual hull, or None when the frames have no masks or
    the hull is (nearly) empty. box: (min, max) world bounds to carve; frames: the training frames."""
    frames = [f for f in frames if f.mask_path is not None]
    if not frames:
        return None
    times = sorted({f.camera.time for f in frames}, key=lambda t: -1.0 if t is None else t)
    if len(times) > max_times:
        times = [times[round(i * (len(times) - 1) / (max_times - 1))] for i in range(max_times)]
    lo, hi = (torch.as_tensor(v, dtype=torch.float64) for v in box)
    axis = (torch.arange(resolution, dtype=torch.float64) + 0.5) / resolution
    grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    centres = lo + (hi - lo) * grid
    keep = torch.zeros(centres.shape[0], dtype=torch.bool)
    for t in times:
        keep |= _carve(centres, _masks([f for f in frames if f.camera.time == t], max_width))
    if int(keep.sum()) < 8:
        return None
    kept = centres[keep]
    pick = torch.randint(0, kept.shape[0], (n,), generator=generator)
    jitter = (torch.rand(n, 3, generator=generator, dtype=torch.float64) - 0.5) * (hi - lo) / resolution
    return kept[pick] + jitter
