"""Visual-hull start points: inside the foreground of every camera, and None without masks."""

import math

import imageio.v3 as iio
import numpy as np
import torch

from ngfx.scenes.camera import Camera
from ngfx.scenes.captures import Capture, CaptureFrame
from ngfx.splatting.visual_hull import visual_hull_points

W, H, RADIUS = 48, 40, 0.5


def ring_capture(tmp_path, n_cams=8, with_masks=True):
    """Cameras on a ring around a sphere of RADIUS at the origin; masks are the sphere's exact silhouettes."""
    frames = []
    for k in range(n_cams):
        a = 2 * math.pi * k / n_cams
        cam = Camera.look_at(eye=(3 * math.cos(a), 0.8 * (k % 2), 3 * math.sin(a)), target=(0, 0, 0), width=W,
                             height=H, fov_y_deg=40)
        j, i = np.mgrid[0:H, 0:W] + 0.5
        d = np.linalg.inv(cam.K) @ np.stack([i.ravel(), j.ravel(), np.ones(W * H)])  # rays, camera frame
        d = cam.T_world_camera[:3, :3] @ (d / np.linalg.norm(d, axis=0))
        o = cam.position[:, None]
        b = (o * d).sum(0)
        hit = b * b - ((o * o).sum(0) - RADIUS**2) >= 0  # ray meets the sphere
        mask = (hit.reshape(H, W) * 255).astype(np.uint8)
        image_path = tmp_path / f"im{k}.png"
        iio.imwrite(image_path, np.stack([mask] * 3, -1))
        mask_path = None
        if with_masks:
            mask_path = tmp_path / f"mask{k}.png"
            iio.imwrite(mask_path, mask)
        frames.append(CaptureFrame(image_path=image_path, camera=cam, mask_path=mask_path))
    return Capture(root=tmp_path, format="test", frames=tuple(frames))


def test_hull_points_lie_in_the_silhouette_cone_intersection(tmp_path):
    capture = ring_capture(tmp_path)
    box = (np.full(3, -1.5), np.full(3, 1.5))
    pts = visual_hull_points(capture, capture.frames, box, 2000, torch.Generator().manual_seed(0), resolution=48)
    assert pts is not None and pts.shape == (2000, 3)
    r = pts.norm(dim=1)
    voxel = 3.0 / 48
    assert float(r.max()) < RADIUS * 1.35 + 2 * voxel  # the 8-view hull hugs the sphere
    assert float(r.median()) < RADIUS  # most points inside the sphere itself
    assert float(pts.std(0).min()) > 0.1  # spread over the object, not collapsed


def test_no_masks_no_hull(tmp_path):
    capture = ring_capture(tmp_path, with_masks=False)
    box = (np.full(3, -1.5), np.full(3, 1.5))
    assert visual_hull_points(capture, capture.frames, box, 100, torch.Generator().manual_seed(0)) is None
