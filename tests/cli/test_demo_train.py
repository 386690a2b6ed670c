"""`ngfx demo` in full at a tiny size: turntable, synthetic captures, a short gs3d run, its video."""

import re

import pytest

from ngfx.render.output import read_video_info
from ngfx.scenes.captures import load_capture
from tests.cli.cli_inputs import SIZE, run_ngfx


@pytest.fixture(autouse=True)
def _cpu(cpu_arch):
    """Renders and trains on Taichi's CPU backend."""


def test_demo_trains_gaussians_on_its_own_capture(capfd, tmp_path):
    out = tmp_path / "demo"
    result = run_ngfx(capfd, "demo", "--out", out, "--frames", "3", *SIZE, "--no-progress", "--steps", "60",
                      "--views", "16", "--capture-size", "48x36")
    assert result.code == 0, result.err
    for name in ("turntable.mp4", "poster.png", "scene.json", "gaussians.mp4", "gs3d/model.ply", "gs3d/scene.json",
                 "capture/transforms_train.json", "capture/transforms_val.json",
                 "capture4d/transforms_train.json", "capture4d/transforms_val.json"):
        assert (out / name).is_file(), name
    capture = load_capture(out / "capture")
    assert capture.format == "blender" and len(capture.split("train")) == 14 and len(capture.split("val")) == 2
    assert load_capture(out / "capture4d").format == "dnerf"
    info = read_video_info(out / "gaussians.mp4")
    assert (info.frames, info.width, info.height) == (3, 96, 72)
    match = re.search(r"held-out PSNR ([\d.]+) dB \(untrained ([\d.]+) dB\)", result.out)
    assert match, result.out
    trained, untrained = float(match[1]), float(match[2])
    assert trained > untrained + 0.5, result.out
    assert str(out / "gaussians.mp4") in result.out and "trained gs3d for 60 steps" in result.out


@pytest.mark.parametrize("flag, value", [("--steps", "0"), ("--views", "1"), ("--capture-size", "80by60")])
def test_demo_bad_training_flags(capfd, tmp_path, flag, value):
    result = run_ngfx(capfd, "demo", "--out", tmp_path / "d", flag, value)
    assert result.code == 2 and flag in result.err and "Traceback" not in result.err, result.err
