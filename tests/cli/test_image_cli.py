"""`ngfx train IMAGE --method image`, `ngfx render RUN` and `ngfx view RUN` on an image run, as a user runs
them: a tiny procedural PNG, a short fit, renders at other sizes and regions, and the one-line errors."""

import json
import os

import imageio.v3 as iio
import numpy as np
import pytest

from tests.cli.cli_inputs import assert_one_line_error, run_ngfx

W, H = 48, 32
SMALL = {"log2_table_size": 10, "n_levels": 6, "batch_size": 4096, "checkpoint_every": 0, "log_every": 20,
         "width": 32}


def write_pattern(path):
    y, x = np.mgrid[0:H, 0:W] / np.array([H, W])[:, None, None]
    rgb = np.stack([0.5 + 0.5 * np.sin(12 * x), (x + y > 0.8) * 0.8 + 0.1, 0.5 + 0.4 * np.cos(9 * y)], -1)
    iio.imwrite(path, np.rint(rgb * 255).astype(np.uint8))
    return path


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A fitted run folder (trained once for the module, in process)."""
    from ngfx.cli.main import main

    root = tmp_path_factory.mktemp("gia")
    config = root / "small.json"
    config.write_text(json.dumps(SMALL))
    code = main(["train", str(write_pattern(root / "pattern.png")), "--steps", "60", "--config", str(config),
                 "--out", str(root / "run"), "--no-progress", "--arch", "cpu"])
    assert code == 0
    return root


def psnr(a, b):
    return 10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b) ** 2))


def test_train_writes_a_run_that_renders_the_image(image_run, capfd, tmp_path):
    run = image_run / "run"
    assert {"config.json", "image.json", "field.pt", "metrics.jsonl"} <= {p.name for p in run.iterdir()}
    assert json.loads((run / "config.json").read_text())["log2_table_size"] == 10
    result = run_ngfx(capfd, "render", run, "--out", tmp_path / "full.png")
    assert result.code == 0 and f"{W}x{H}" in result.out, result
    full, target = iio.imread(tmp_path / "full.png"), iio.imread(image_run / "pattern.png")
    assert full.shape == target.shape and psnr(full, target) > 20, psnr(full, target)  # trained, not empty


def test_render_any_size_and_region(image_run, capfd, tmp_path):
    run = image_run / "run"
    assert run_ngfx(capfd, "render", run, "--out", tmp_path / "big.png", "--width", 96).code == 0
    assert iio.imread(tmp_path / "big.png").shape == (64, 96, 3)  # height follows the aspect
    result = run_ngfx(capfd, "render", run, "--out", tmp_path / "zoom.png", "--width", 40,
                      "--region", "0.5,0,1,0.5")
    assert result.code == 0
    zoom = iio.imread(tmp_path / "zoom.png")
    assert zoom.shape == (27, 40, 3)  # the region is 24 x 16 image pixels: its aspect sets the height
    assert zoom.std() > 5, "an empty render"
    result = run_ngfx(capfd, "render", run, "--out", tmp_path / "pad.png", "--width", 40, "--height", 20,
                      "--region=-1,0,2,1", "--background", "1,0,0")
    pad = iio.imread(tmp_path / "pad.png")
    assert (pad[:, :10] == [255, 0, 0]).all() and (pad[:, -10:] == [255, 0, 0]).all()  # outside: background
    assert run_ngfx(capfd, "render", run, "--out", tmp_path / "raw.exr").code == 0


def test_bad_input_is_one_line(image_run, capfd, tmp_path):
    run = image_run / "run"
    assert_one_line_error(run_ngfx(capfd, "render", run, "--out", tmp_path / "x.jpg"), "--out", ".png or .exr")
    assert_one_line_error(run_ngfx(capfd, "render", run, "--out", tmp_path / "x.png", "--region", "1,0,0,1"),
                          "--region")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert_one_line_error(run_ngfx(capfd, "train", broken, "--out", tmp_path / "r"), "broken.png")
    assert_one_line_error(run_ngfx(capfd, "train", image_run / "pattern.png", "--downscale", "2",
                                   "--out", tmp_path / "r"), "--downscale")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"width": 48}))
    assert_one_line_error(run_ngfx(capfd, "train", image_run / "pattern.png", "--config", bad,
                                   "--out", tmp_path / "r"), "bad.json", "width")
    bad.write_text(json.dumps({"n_levels": 0}))
    assert_one_line_error(run_ngfx(capfd, "train", image_run / "pattern.png", "--config", bad,
                                   "--out", tmp_path / "r"), "bad.json")
    assert_one_line_error(run_ngfx(capfd, "train", image_run / "pattern.png", "--method", "gs3d",
                                   "--out", tmp_path / "r"), "--method image")
    assert not (tmp_path / "r").exists()  # nothing half-written


def test_image_suffixes_agree():
    from ngfx.cli.train import IMAGE_SUFFIXES
    from ngfx.scenes.image_file import IMAGE_SUFFIXES as LOADER_SUFFIXES

    assert IMAGE_SUFFIXES == LOADER_SUFFIXES


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="no X display: run under xvfb-run -a")
def test_view_screenshot_equals_render(image_run, capfd, tmp_path):
    run = image_run / "run"
    result = run_ngfx(capfd, "view", run, "--screenshot", tmp_path / "shot.png", "--frames", "2",
                      "--width", 96, "--height", 64)
    assert result.code == 0, result
    run_ngfx(capfd, "render", run, "--out", tmp_path / "same.png", "--width", 96, "--height", 64)
    shot, same = iio.imread(tmp_path / "shot.png"), iio.imread(tmp_path / "same.png")
    assert shot.shape == same.shape and np.abs(shot.astype(int) - same).max() <= 1
