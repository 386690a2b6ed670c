"""`ngfx demo` in full at a tiny size: turntable, synthetic captures, gs3d and gs4d runs and their videos."""

import json
import re

import imageio.v3 as iio
import numpy as np
import pytest

from ngfx.render.output import read_video_info
from ngfx.scenes.captures import load_capture
from tests.cli.cli_inputs import SIZE, run_ngfx


@pytest.fixture(autouse=True)
def _cpu(cpu_arch):
    """Renders and trains on Taichi's CPU backend."""


def _psnrs(out: str, method: str) -> tuple[float, float]:
    """(trained, untrained) held-out PSNR from the demo's line for `method`."""
    match = re.search(rf"trained {method} for .*held-out PSNR ([\d.]+) dB \(untrained ([\d.]+) dB\)", out)
    assert match, out
    return float(match[1]), float(match[2])


def grey_pixels_drawn_coloured(run_dir, capture) -> float:
    """Of the held-out photos' grey pixels (the floor's checker), the share the trained run draws with a clear
    colour: random start colours that a short run cannot undo showed up as coloured blotches there (0.45 with
    random colours, 0.06 with grey ones, at this test's sizes; 0.17 and 0.04 at the demo's CPU sizes)."""
    from ngfx.render.core import SceneRenderer
    from ngfx.render.sources import load_source

    renderer, shares = SceneRenderer(load_source(str(run_dir))), []
    for frame in capture.split("val"):
        photo = iio.imread(frame.image_path)[..., :3] / 255.0
        drawn = renderer.render(frame.camera, 0.0).rgb[..., :3].clamp(0, 1).numpy()
        grey = photo.max(-1) - photo.min(-1) < 0.08
        shares.append(float(((drawn.max(-1) - drawn.min(-1) > 0.15) & grey).sum() / max(1, grey.sum())))
    return float(np.mean(shares))


def test_demo_trains_gaussians_on_its_own_captures(capfd, tmp_path):
    # 32 views: the 4D capture gets 12 (10 to train on); with 5 the held-out view barely improves on the seeds
    out = tmp_path / "demo"
    result = run_ngfx(capfd, "demo", "--out", out, "--frames", "3", *SIZE, "--no-progress", "--steps", "200",
                      "--views", "32", "--capture-size", "48x36")
    assert result.code == 0, result.err
    for name in ("turntable.mp4", "poster.png", "scene.json", "gaussians.mp4", "gs3d/model.ply",
                 "gs3d/scene.json", "capture/transforms_train.json", "capture/transforms_val.json",
                 "capture4d/transforms_train.json", "capture4d/transforms_val.json",
                 "gaussians4d.mp4", "gs4d/model.ply", "gs4d/scene.json"):
        assert (out / name).is_file(), name
    capture = load_capture(out / "capture")
    assert capture.format == "blender" and (len(capture.split("train")), len(capture.split("val"))) == (28, 4)
    capture4d = load_capture(out / "capture4d")
    assert capture4d.format == "dnerf" and len(capture4d.split("train")) == 10 * 6

    trained, untrained = _psnrs(result.out, "gs3d")
    assert trained > untrained + 0.5, result.out
    assert str(out / "gaussians.mp4") in result.out and "trained gs3d for 200 steps" in result.out
    info = read_video_info(out / "gaussians.mp4")
    assert (info.frames, info.width, info.height) == (3, 96, 72)
    coloured = grey_pixels_drawn_coloured(out / "gs3d", capture)
    assert coloured < 0.15, f"{coloured:.3f} of the grey floor's held-out pixels come out coloured (blotches)"

    # gs4d: 3/5 of --steps, seeded from gs3d, better on the held-out views than where it started
    trained, untrained = _psnrs(result.out, "gs4d")
    assert trained > untrained + 0.3, result.out
    assert "trained gs4d for 120 steps" in result.out and str(out / "gaussians4d.mp4") in result.out
    assert json.loads((out / "gs4d" / "scene.json").read_text())["time"]["duration_s"] > 0
    info = read_video_info(out / "gaussians4d.mp4")
    assert (info.frames, info.width, info.height) == (3, 96, 72)
    frames = iio.imread(out / "gaussians4d.mp4").astype(np.float64)  # one camera; times 0, 1/3, 2/3 of span
    assert frames.shape == (3, 72, 96, 3) and frames[0].std(axis=(0, 1)).max() > 10.0  # not just background
    changes = [float(np.abs(frames[k] - frames[0]).mean()) for k in (1, 2)]
    assert min(changes) > 1.0, changes  # the model moves through time (a fixed time would give ~0)


@pytest.mark.parametrize("flag, value", [("--steps", "0"), ("--views", "1"), ("--capture-size", "80by60")])
def test_demo_bad_training_flags(capfd, tmp_path, flag, value):
    result = run_ngfx(capfd, "demo", "--out", tmp_path / "d", flag, value)
    assert result.code == 2 and flag in result.err and "Traceback" not in result.err, result.err
