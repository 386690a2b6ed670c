"""render_capture writes a Blender / D-NeRF folder that load_capture reads back with the same cameras."""

import dataclasses
import json

import numpy as np
import pytest

from ngfx.render.demo_scene import build_demo_scene
from ngfx.render.synthetic_capture import capture_cameras, render_capture
from ngfx.scenes.captures import load_capture, load_images

W, H = 48, 36
BG = np.round(np.array([0.62, 0.72, 0.85]) * 255)  # the demo's background


@pytest.fixture(scope="module")
def demo():
    scene = build_demo_scene()
    scene.load_payloads()
    return scene


def _project(camera, points):
    p = (camera.T_camera_world @ np.c_[points, np.ones(len(points))].T)[:3]
    assert (p[2] > 0).all()
    uv = camera.K @ (p / p[2])
    return uv[:2].T


def _bounds():
    return np.array([-2.0, 0.0, -2.0]), np.array([2.0, 1.6, 1.2])


def test_static_capture_round_trips(cpu_arch, demo, tmp_path):
    out = render_capture(demo, tmp_path / "cap", n_views=10, width=W, height=H, bounds=_bounds())
    capture = load_capture(out)
    assert capture.format == "blender" and not capture.is_dynamic
    assert [f.image_path.stem for f in capture.split("val")] == ["r_000", "r_008"]  # every 8th held out
    assert len(capture.split("train")) == 8
    original = {c.name: c for c in capture_cameras(_bounds(), n_views=10, width=W, height=H)}
    points = np.random.default_rng(0).uniform(*_bounds(), size=(50, 3))
    for frame in capture.frames:
        cam = frame.camera
        ref = original[frame.image_path.stem]
        assert (cam.width, cam.height) == (W, H)
        np.testing.assert_allclose(_project(cam, points), _project(ref, points), atol=1e-6)
        np.testing.assert_allclose(cam.position, ref.position, atol=1e-9)
    assert np.allclose(capture.up, (0, 1, 0))
    images = load_images(capture, "train")
    for image in images:
        rgb = np.round(image.rgb.cpu().numpy() * 255)
        assert rgb.shape == (H, W, 3)
        assert (np.abs(rgb - BG).max(-1) > 2).mean() > 0.2 and rgb.std() > 10  # objects and ground, not sky
    raw = json.loads((out / "transforms_train.json").read_text())
    assert raw["frames"][0]["file_path"] == "./train/r_001" and "time" not in raw["frames"][0]


def test_timed_capture_is_dnerf(cpu_arch, demo, tmp_path):
    times = [0.0, 1.0, 2.0]
    out = render_capture(demo, tmp_path / "cap4d", n_views=4, width=W, height=H, times=times,
                         held_out_every=3, bounds=_bounds())
    capture = load_capture(out)
    assert capture.format == "dnerf" and capture.is_dynamic and len(capture.frames) == 12
    assert len(capture.split("val")) == 6  # cameras 0 and 3, at every time
    got = sorted({round(f.camera.time, 6) for f in capture.frames})
    assert got == [0.0, 0.25, 0.5]  # D-NeRF time: scene seconds / the 4 s duration
    by_time = {round(f.camera.time, 6): f for f in capture.frames if f.image_path.stem.startswith("r_001")}
    images = {t: load_images(dataclasses.replace(capture, frames=(f,)), "train")[0].rgb
              for t, f in by_time.items()}
    assert not np.array_equal(images[0.0].numpy(), images[0.25].numpy())  # the torus moves
