"""`ngfx train DATA --view`: training in a background thread under the live viewer (ngfx/cli/train_view.py).

The capture is a tiny Blender folder rendered from synthetic Gaussians, as in tests/splatting/test_trainer.py.
"""

import json
import math
import os
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from tests.cli.cli_inputs import run_ngfx

W, H, FOV = 32, 24, 50.0


def _write_blender(root, n_train: int = 6, n_val: int = 2):
    from ngfx.scenes.camera import Camera
    from ngfx.splatting.render import render_gaussians
    from ngfx.splatting.synthetic import shell_gaussians

    model = shell_gaussians(200, radius=0.5, sh_degree=0)
    fov_x = 2 * math.atan(W / H * math.tan(math.radians(FOV) / 2))
    for split, n, offset in (("train", n_train, 0.0), ("val", n_val, 0.37)):
        (root / split).mkdir(parents=True)
        frames = []
        for i in range(n):
            a = 2 * math.pi * (i + offset) / n
            eye = (1.6 * math.cos(a), 0.64 * math.sin(3 * a), 1.6 * math.sin(a))
            cam = Camera.look_at(eye, (0, 0, 0), width=W, height=H, fov_y_deg=FOV)
            with torch.no_grad():
                rgb = render_gaussians(model, cam, background=(0.0, 0.0, 0.0)).rgb
            Image.fromarray((rgb.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)).save(root / split / f"r_{i}.png")
            frames.append({"file_path": f"./{split}/r_{i}", "transform_matrix": cam.to_opengl().tolist()})
        (root / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": fov_x, "frames": frames}))
    return root


@pytest.fixture
def blender(tmp_path, cpu_arch):
    return _write_blender(tmp_path / "shell")


def test_screenshot_needs_view(capfd, blender, tmp_path):
    result = run_ngfx(capfd, "train", blender, "--steps", "2", "--screenshot", tmp_path / "s.png")
    assert result.code == 2 and "--view" in result.err, result.err
    assert not (tmp_path / "s.png").exists()


def test_taichi_turns_lend_the_lock_to_a_waiting_viewer():
    from ngfx.cli.train_view import TaichiTurns

    turns, order = TaichiTurns(), []
    turns.trainer_acquire()
    viewer = threading.Thread(target=lambda: turns.viewer_call(order.append, "render"))
    viewer.start()
    for _ in range(2000):  # until the viewer waits on the lock
        if turns._viewer_waiting.is_set():
            break
        threading.Event().wait(0.001)
    order.append("step 1")  # the viewer cannot render during a step
    turns.trainer_yield()  # between steps: the viewer renders, then the trainer has the lock again
    order.append("step 2")
    turns.trainer_release()
    viewer.join(5)
    assert order == ["step 1", "render", "step 2"]
    turns.trainer_yield()  # nobody waiting: nothing happens (and no lock is held, so nothing to release)


def _needs_display():
    if not os.environ.get("DISPLAY"):
        pytest.skip("no X display (tests/conftest.py starts Xvfb when it is installed)")


@pytest.mark.display
def test_train_view_screenshot_shows_the_final_model(capfd, blender, tmp_path):
    _needs_display()
    from ngfx.splatting.ply import load_gaussians
    from ngfx.splatting.render import render_gaussians
    from tests.cli.cli_inputs import read_png

    run, shot = tmp_path / "run", tmp_path / "s.png"
    result = run_ngfx(capfd, "train", blender, "--view", "--steps", "20", "--screenshot", shot, "--out", run,
                      "--n-init", "3000")
    assert result.code == 0, result.err
    assert "finished after 20 steps" in result.out, result.out
    assert (run / "model.ply").is_file() and (run / "scene.json").is_file()
    image = read_png(shot)
    assert image.shape == (H, W, 3)  # the window opens at the first training view's size
    assert image.std() > 0, "the screenshot is blank"
    # it shows the trained model (model.ply) from the first training view, over the run's background
    from ngfx.scenes.captures import load_capture

    camera = load_capture(blender).split("train")[0].camera
    background = json.loads((run / "scene.json").read_text())["background"]
    with torch.no_grad():
        out = render_gaussians(load_gaussians(run / "model.ply"), camera)
    rgb = out.rgb + (1.0 - out.alpha[..., None]) * torch.tensor(background, dtype=torch.float32)
    expected = (rgb.clamp(0, 1).numpy() * 255 + 0.5).astype(np.int16)
    diff = np.abs(image.astype(np.int16) - expected)
    assert diff.mean() < 1.0 and diff.max() <= 8, (diff.mean(), diff.max())


@pytest.mark.display
def test_closing_the_viewer_stops_training_with_a_checkpoint(capfd, blender, tmp_path, monkeypatch):
    _needs_display()
    import ngfx.viewer

    real = ngfx.viewer.run_viewer

    def run_viewer(render_fn, camera, *, on_frame=None, **kwargs):
        renders = []

        def counted_render(camera, t):
            renders.append(t)
            return render_fn(camera, t)

        def close_after_snapshots(index, controller, state):
            on_frame(index, controller, state)
            if len(renders) >= 3:  # the background, then two model snapshots (a still view is not re-rendered)
                import pyglet.app

                for window in list(pyglet.app.windows):
                    window.has_exit = True  # what the window's close button does
            else:
                threading.Event().wait(0.02)

        return real(counted_render, camera, on_frame=close_after_snapshots, **kwargs)

    monkeypatch.setattr(ngfx.viewer, "run_viewer", run_viewer)
    run = tmp_path / "run"
    result = run_ngfx(capfd, "train", blender, "--view", "--steps", "5000", "--out", run, "--n-init", "3000")
    assert result.code == 0, result.err
    assert "ngfx train: interrupted after" in result.out and "run the same command again" in result.out, result.out
    assert list((run / "checkpoints").glob("*.pt")) and (run / "model.ply").is_file()


def test_train_time_budget_and_sh_degree_flags(capfd, blender, tmp_path):
    run = tmp_path / "run"
    result = run_ngfx(capfd, "train", blender, "--steps", "1000000", "--max-seconds", "2", "--sh-degree", "0",
                      "--n-init", "500", "--out", run, "--no-progress")
    assert result.code == 0, result.err
    config = json.loads((run / "config.json").read_text())
    assert config["max_seconds"] == 2.0 and config["sh_degree"] == 0
    finished = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    assert finished["event"] == "finished" and 0 < finished["step"] < 1_000_000  # stopped by the budget
    assert "held-out PSNR" in result.out
    bad = run_ngfx(capfd, "train", blender, "--max-seconds", "0", "--out", tmp_path / "bad")
    assert bad.code == 2 and "--max-seconds" in bad.err and not (tmp_path / "bad").exists()


def test_train_config_file_sets_fields_and_flags_override_it(capfd, blender, tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"sh_degree": 1, "n_init": 400, "lr_opacity": 0.02, "steps": 3}))
    run = tmp_path / "run"
    result = run_ngfx(capfd, "train", blender, "--config", settings, "--steps", "4", "--out", run, "--no-progress")
    assert result.code == 0, result.err
    config = json.loads((run / "config.json").read_text())
    assert (config["sh_degree"], config["n_init"], config["lr_opacity"]) == (1, 400, 0.02)
    assert config["steps"] == 4 and config["method"] == "gs3d"  # the flag wins over the file
    settings.write_text(json.dumps({"sh_degre": 1}))
    bad = run_ngfx(capfd, "train", blender, "--config", settings, "--out", tmp_path / "bad")
    assert bad.code == 2 and len(bad.err.strip().splitlines()) == 1
    assert "settings.json" in bad.err and "sh_degre" in bad.err and "sh_degree" in bad.err


def test_train_picks_the_complete_format_says_so_and_format_forces_one(capfd, tmp_path):
    """LLFF poses and images beside a partial COLMAP model (cameras.bin, no images.bin): trains as LLFF and
    says why; --format colmap then names what the COLMAP model lacks."""
    from tests.scenes.captures.test_llff import make_scene

    make_scene(tmp_path / "scene")
    (tmp_path / "scene" / "sparse" / "0").mkdir(parents=True)
    (tmp_path / "scene" / "sparse" / "0" / "cameras.bin").write_bytes(b"\0" * 8)
    result = run_ngfx(capfd, "train", tmp_path / "scene", "--steps", "2", "--n-init", "200",
                      "--out", tmp_path / "run", "--no-progress")
    assert result.code == 0, result.err
    assert "ngfx train: llff capture" in result.out
    assert "read as llff, the first complete format here; passed over: colmap (sparse/0/ has cameras but no " \
           "images.bin or images.txt)" in result.out, result.out
    forced = run_ngfx(capfd, "train", tmp_path / "scene", "--format", "colmap", "--out", tmp_path / "run2")
    assert forced.code == 2 and "no COLMAP model found" in forced.err and len(forced.err.strip().splitlines()) == 1
