"""`ngfx render` and `ngfx view` on Gaussian PLY files (3D and 4D), and their bad-input messages."""

import os

import numpy as np
import pytest

from ngfx.render.output import read_video_info
from ngfx.splatting.ply import save_gaussians
from ngfx.splatting.synthetic import orbiting_gaussians, shell_gaussians
from tests.cli.cli_inputs import SIZE, H, W, assert_one_line_error, background_fraction, read_png, run_ngfx


@pytest.fixture(autouse=True)
def _cpu(cpu_arch):
    """CPU backend throughout."""


@pytest.fixture
def plys(tmp_path):
    static, dynamic = tmp_path / "shell.ply", tmp_path / "ring4d.ply"
    save_gaussians(static, shell_gaussians(500, sh_degree=3))
    save_gaussians(dynamic, orbiting_gaussians(400, duration=2.0, rotation="rotor"))
    return static, dynamic


def test_render_ply_orbit_to_video(capfd, tmp_path, plys):
    out = tmp_path / "shell.mp4"
    result = run_ngfx(capfd, "render", plys[0], "--orbit", "--frames", "4", "--out", out, *SIZE, "--no-progress")
    assert result.code == 0, result.err
    info = read_video_info(out)
    assert (info.frames, info.width, info.height) == (4, W, H)


def test_render_4d_ply_at_two_times(capfd, tmp_path, plys):
    images = []
    for t in ("0.2", "1.2"):
        out = tmp_path / f"t{t}.png"
        result = run_ngfx(capfd, "render", plys[1], "--time", t, "--out", out, *SIZE, "--no-progress")
        assert result.code == 0, result.err
        images.append(read_png(out))
        assert 1.0 - background_fraction(images[-1], (0, 0, 0)) > 0.02
    assert np.abs(images[0].astype(int) - images[1].astype(int)).max() > 50


def test_bad_ply_is_one_line_error(capfd, tmp_path, plys):
    broken = tmp_path / "broken.ply"
    data = plys[0].read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # truncated vertex data
    result = run_ngfx(capfd, "render", broken, "--out", tmp_path / "x.png", *SIZE, "--no-progress")
    assert_one_line_error(result, "broken.ply")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.display
def test_view_4d_ply_screenshot(capfd, tmp_path, plys):
    if not os.environ.get("DISPLAY"):
        pytest.skip("no X display (tests/conftest.py starts Xvfb when it is installed)")
    shot = tmp_path / "v.png"
    result = run_ngfx(capfd, "view", plys[1], "--time", "0.5", "--screenshot", shot, "--frames", "2", *SIZE)
    assert result.code == 0, result.err
    image = read_png(shot)
    assert image.shape == (H, W, 3) and 1.0 - background_fraction(image, (0, 0, 0)) > 0.02


def test_bench_splat_smoke(capfd, tmp_path):
    """The splat suite end to end at toy sizes on the CPU (no gsplat here): a table and a JSON record."""
    import json

    out = tmp_path / "splat.json"
    result = run_ngfx(capfd, "bench", "splat", "--cases", "b,c", "--scale", "0.002", "--repeats", "1",
                      "--warmup", "0", "--out", out)
    assert result.code == 0, result.err
    assert "gsplat baseline skipped" in result.out
    record = json.loads(out.read_text())
    assert [r["case"] for r in record["rows"]] == ["b", "c", "c", "c"]
    assert all(r["fwd_ms"] > 0 and r["fb_ms"] > 0 and r["n_intersections"] > 0 for r in record["rows"])
