"""The pyglet viewer end to end under a real (or Xvfb) X display: screenshots equal headless renders.

Run with `xvfb-run -a -s "-screen 0 1280x1024x24" python -m pytest tests/viewer`; without DISPLAY the
window tests skip and only the no-display error is checked.
"""

import os

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.renderable import RenderOutput
from ngfx.viewer import run_viewer
from ngfx.viewer.display import display_image, to_uint8

W, H = 96, 72
needs_display = pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="no X display: run under xvfb-run -a")


def sphere_render(camera: Camera, time: float) -> RenderOutput:
    """A unit sphere at the origin, coloured by its world normal and lit by a light circling with `time`."""
    j, i = torch.meshgrid(torch.arange(camera.height, dtype=torch.float64),
                          torch.arange(camera.width, dtype=torch.float64), indexing="ij")
    rays_cam = torch.stack([(i + 0.5 - camera.cx) / camera.fx, (j + 0.5 - camera.cy) / camera.fy,
                            torch.ones_like(i)], dim=-1)  # camera z = 1, so the hit distance t is the depth
    T_world_camera = torch.from_numpy(camera.T_world_camera)
    dirs = rays_cam @ T_world_camera[:3, :3].T
    origin = T_world_camera[:3, 3]
    b = dirs @ origin
    a = (dirs * dirs).sum(-1)
    disc = b * b - a * (origin @ origin - 1.0)
    hit = disc > 0
    t = (-b - disc.clamp_min(0).sqrt()) / a
    normal = origin + t[..., None] * dirs
    light = torch.tensor([np.cos(time), 0.7, np.sin(time) + 1.0], dtype=torch.float64)
    shade = 0.2 + 0.8 * (normal @ (light / light.norm())).clamp_min(0)
    rgb = torch.where(hit[..., None], (0.5 + 0.5 * normal) * shade[..., None], torch.zeros(()))
    depth = torch.where(hit, t, torch.full_like(t, float("inf")))
    return RenderOutput(rgb=rgb.float(), depth=depth.float(), alpha=hit.float())


def start_camera() -> Camera:
    return Camera.look_at((0.0, 0.8, 3.2), (0.0, 0.0, 0.0), width=W, height=H, fov_y_deg=45.0)


def read_png(path) -> np.ndarray:
    image = iio.imread(path)
    assert image.shape == (H, W, 3) and image.dtype == np.uint8, (image.shape, image.dtype)
    return image


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def test_no_display_is_an_input_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    with pytest.raises(InputError, match="no display for the viewer.*xvfb-run"):
        run_viewer(sphere_render, start_camera(), frames=1)


@pytest.mark.parametrize("frames", [0, -3])
def test_frames_must_be_positive(frames):
    with pytest.raises(InputError, match="frames"):
        run_viewer(sphere_render, start_camera(), frames=frames)


@pytest.mark.display
@needs_display
def test_screenshot_equals_headless_render(tmp_path):
    out = tmp_path / "shot.png"
    run_viewer(sphere_render, start_camera(), screenshot=str(out), frames=3)
    shot = read_png(out)
    expected = to_uint8(sphere_render(start_camera(), 0.0).rgb)
    assert max_diff(shot, expected) <= 1
    assert (shot.max(axis=-1) > 20).mean() > 0.2, "the sphere should cover a good part of the image"
    assert not list(tmp_path.glob(".*")), "the temporary file should be gone"


@pytest.mark.display
@needs_display
def test_scripted_orbit_matches_controller_camera(tmp_path):
    seen = {}

    def on_frame(k, controller, state):
        if k == 0:
            controller.drag(60.0, 20.0, "left")  # moving: the next frames render at a reduced size
        seen["controller"] = controller

    out = tmp_path / "orbit.png"
    run_viewer(sphere_render, start_camera(), screenshot=str(out), frames=4, on_frame=on_frame)
    shot = read_png(out)
    moved = seen["controller"].camera(W, H)
    assert max_diff(shot, to_uint8(sphere_render(moved, 0.0).rgb)) <= 1
    assert max_diff(shot, to_uint8(sphere_render(start_camera(), 0.0).rgb)) > 20
    assert shot.max() > 100


@pytest.mark.display
@needs_display
def test_playback_mode_and_p_key(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def on_frame(k, controller, state):
        if k == 2:
            state.key_down("p")  # saves ngfx-screenshot-1.png of frame 2 (rgb)
        if k == 3:
            state.key_down("m")  # the final screenshot shows depth

    frames, start = 5, 0.4
    run_viewer(sphere_render, start_camera(), duration_s=2.0, start_time=start, screenshot="final.png",
               frames=frames, on_frame=on_frame)
    rgb_2 = to_uint8(sphere_render(start_camera(), start + 2 / 30).rgb)
    assert max_diff(read_png("ngfx-screenshot-1.png"), rgb_2) <= 1
    expected = display_image(sphere_render(start_camera(), start + (frames - 1) / 30), "depth")
    assert max_diff(read_png("final.png"), expected) <= 1

