"""Bad input to `ngfx`: exit status 2 and ONE stderr line `ngfx: error: ...` naming the file (basename) and
the field where there is one, saying what to do; no traceback, except under --debug, where the InputError
propagates.

Most cases run in-process (`ngfx.cli.main.main`); three run the real `ngfx` console script in a subprocess, to
see exactly what a user sees (interpreter tracebacks and text printed by native libraries included).
Tests marked xfail(strict=True) pin bugs found while writing these tests: they start failing once the bug is
fixed, so the marker gets removed then.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ngfx.errors import InputError
from tests.cli.cli_inputs import (
    SIZE,
    assert_one_line_error,
    camera_dict,
    gl_pose,
    run_ngfx,
    write_camera_path,
    write_cube_obj,
    write_json,
)

SPHERE = {"name": "ball", "type": "mesh", "primitive": {"shape": "sphere", "radius": 1.0}}
MALFORMED_JSON = '{\n  "nodes": [\n    {"name": "a", "type": "mesh",, "path": "a.obj"}\n  ]\n}\n'


def render_args(scene, tmp_path, *flags):
    return ["render", scene, "--out", tmp_path / "out.png", *SIZE, "--no-progress", *flags]


def scene_with_camera(tmp_path, **camera):
    return write_json(tmp_path / "scene.json", {"nodes": [SPHERE], "cameras": [{**camera_dict(), **camera}]})


def json_error_position() -> str:
    try:
        json.loads(MALFORMED_JSON)
    except json.JSONDecodeError as e:
        return f"line {e.lineno}, column {e.colno}"
    raise AssertionError("MALFORMED_JSON parses")


def scene_file(tmp_path, *nodes):
    return write_json(tmp_path / "scene.json", {"nodes": list(nodes)})


def camera_path(tmp_path, **top):
    return write_camera_path(tmp_path / "camera_path.json", [gl_pose()], **top)


NO_FACES, NAN_VERTEX = "v 0 0 0\nv 1 0 0\nv 0 1 0\n", "v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"
BLOB_CHILD = {**SPHERE, "children": [{"name": "c", "type": "blob"}]}
MISSING_MESH = {"name": "m", "type": "mesh", "path": "gone.obj"}
ZERO_FOCAL = [[0, 0, 32], [0, 0, 24], [0, 0, 1]]

# name: (argv from tmp_path, what the one line must hold: the file's basename, the field where there is one,
# what is wrong and what to do)
CASES = {
    "missing_file": (lambda p: render_args(p / "missing.obj", p), ["missing.obj", "check the path"]),
    "unsupported_format": (lambda p: render_args(write_json(p / "points.xyz", [1, 2, 3]), p),
                           ["points.xyz", "'.xyz'", ".obj"]),
    "mesh_without_faces": (lambda p: render_args(_write(p / "empty.obj", NO_FACES), p),
                           ["empty.obj", "give a triangle mesh"]),
    "nan_vertex": (lambda p: render_args(_write(p / "nan.obj", NAN_VERTEX), p),
                   ["nan.obj", "vertices'", "NaN", "re-export"]),
    "mesh_missing_from_scene": (lambda p: render_args(scene_file(p, MISSING_MESH), p),
                                ["gone.obj", "nodes[0]", "scene.json", "check the path"]),
    "camera_zero_focal": (lambda p: render_args(scene_with_camera(p, K=ZERO_FOCAL), p),
                          ["scene.json", "'cameras[0].K'", "focal length", "give a positive focal length"]),
    "camera_zero_width": (lambda p: render_args(scene_with_camera(p, width=0), p),
                          ["scene.json", "'cameras[0].width'", "0x48", "at least 1 pixel"]),
    "camera_negative_height": (lambda p: render_args(scene_with_camera(p, height=-4), p),
                               ["scene.json", "'cameras[0].", "64x-4", "at least 1 pixel"]),
    "camera_path_zero_width": (lambda p: render_args("demo", p, "--camera-path", camera_path(p, width=0)),
                               ["camera_path.json", "'render_width'", "positive integer"]),
    "camera_path_fisheye": (lambda p: render_args("demo", p, "--camera-path",
                                                  camera_path(p, camera_type="fisheye")),
                            ["camera_path.json", "'camera_type'", "fisheye", "perspective"]),
    "malformed_json": (lambda p: render_args(_write(p / "scene.json", MALFORMED_JSON), p),
                       ["scene.json", json_error_position(), "fix the JSON syntax"]),
    "unknown_node_type": (lambda p: render_args(scene_file(p, BLOB_CHILD), p),
                          ["scene.json", "'nodes[0].children[0].type'", "'blob'",
                           "use one of", "group, light, mesh"]),
    "width_zero": (lambda p: render_args("demo", p, "--width", "0"),
                   ["--width", "positive number of pixels", "got 0"]),
    "background_two_numbers": (lambda p: render_args("demo", p, "--background", "1,2"),
                               ["--background", "'1,2'", "write e.g."]),
    "background_out_of_range": (lambda p: render_args("demo", p, "--background", "0,-1,0"),
                                ["--background", "outside [0, 1]"]),
    "background_ambiguous_0_255": (lambda p: render_args("demo", p, "--background", "2,0,0"),
                                   ["--background", "'2,0,0'", "ambiguous", "0.00784,0,0", "1,0,0"]),
    "frames_zero": (lambda p: render_args("demo", p, "--frames", "0"), ["--frames", "at least 1", "got 0"]),
    "png_with_several_frames": (lambda p: render_args("demo", p, "--frames", "3"), ["out.png", "--frames 1"]),
    "unsupported_output": (lambda p: ["render", "demo", "--out", p / "out.jpg", *SIZE, "--no-progress"],
                           ["out.jpg", "'.jpg'", ".mp4"]),
    "export_unsupported_mesh_format": (lambda p: ["export", "demo", "--out", p / "m.xyz"], ["m.xyz", ".ply"]),
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def _cpu(cpu_arch):
    """Errors must come before any rendering, but if one slips through it renders on the CPU."""


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line(capfd, tmp_path, case):
    build, needles = CASES[case]
    argv = build(tmp_path)
    line = assert_one_line_error(run_ngfx(capfd, *argv), *needles)
    assert not (tmp_path / "out.png").exists()
    with pytest.raises(InputError) as err:  # --debug lets the error (and so its traceback) through
        run_ngfx(capfd, *argv, "--debug")
    assert f"ngfx: error: {err.value}" == line


def test_camera_height_error_names_the_height_field(capfd, tmp_path):
    assert_one_line_error(run_ngfx(capfd, *render_args(scene_with_camera(tmp_path, height=-4), tmp_path)),
                          "'cameras[0].height'")


@pytest.mark.parametrize("name, content", [("cube.obj", None), ("scene.json", '{"nodes": []}')])
def test_unreadable_file(capfd, tmp_path, name, content):
    path = write_cube_obj(tmp_path / name) if content is None else _write(tmp_path / name, content)
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("chmod 000 does not stop this user (root) from reading")
        assert_one_line_error(run_ngfx(capfd, *render_args(path, tmp_path)), name, "ermission denied")
    finally:
        path.chmod(0o644)


def test_view_without_display_is_one_line(capfd, tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    result = run_ngfx(capfd, "view", "demo", "--screenshot", tmp_path / "s.png", *SIZE)
    assert_one_line_error(result, "no display", "ngfx render")
    assert not (tmp_path / "s.png").exists()


# --- outputs never create the folders above them ---------------------------------------------------------
MISSING_FOLDER_COMMANDS = {
    "render": lambda out: ["render", "demo", "--out", out / "x.mp4", *SIZE, "--no-progress"],
    "render_png": lambda out: ["render", "demo", "--out", out / "x.png", *SIZE, "--no-progress"],
    "render_frames": lambda out: ["render", "demo", "--out", out / "frames", *SIZE, "--no-progress"],
    "export": lambda out: ["export", "demo", "--out", out / "m.ply"],
    "view_screenshot": lambda out: ["view", "demo", "--screenshot", out / "s.png", *SIZE],
    "demo": lambda out: ["demo", "--out", out / "demo", "--no-train", "--frames", "1", *SIZE, "--no-progress"],
    "train": lambda out: ["train", "missing-capture", "--out", out / "run"],
    "bench": lambda out: ["bench", "raster", "--out", out / "b.json", *SIZE],
}


@pytest.mark.parametrize("command", sorted(MISSING_FOLDER_COMMANDS))
def test_output_in_a_missing_folder_is_refused_and_nothing_is_created(capfd, tmp_path, command):
    missing = tmp_path / "no_such_dir" / "deeper"
    result = run_ngfx(capfd, *MISSING_FOLDER_COMMANDS[command](missing))
    field = "--screenshot" if command == "view_screenshot" else "--out"
    assert_one_line_error(result, "deeper", f"'{field}'", "does not exist", "mkdir -p")
    assert not (tmp_path / "no_such_dir").exists()


def test_output_at_the_root_creates_no_folder_there(capfd):
    root_dir = Path("/") / f"ngfx_test_missing_{os.getpid()}"
    assert not root_dir.exists()
    result = run_ngfx(capfd, "render", "demo", "--out", root_dir / "x.mp4", *SIZE, "--no-progress")
    assert_one_line_error(result, root_dir.name, "does not exist")
    assert not root_dir.exists()


def test_library_writer_refuses_a_missing_folder(tmp_path):
    from ngfx.render.output import FrameWriter

    with pytest.raises(InputError, match="does not exist"):
        FrameWriter(tmp_path / "missing" / "x.mp4")
    assert not (tmp_path / "missing").exists()


# --- once tracebacks, now one-line errors ------------------------------------------------------------
def test_demo_out_is_an_existing_file(capfd, tmp_path):
    taken = _write(tmp_path / "taken", "not a folder")
    assert_one_line_error(run_ngfx(capfd, "demo", "--out", taken, "--frames", "1", *SIZE, "--no-progress"),
                          "taken")


def test_bench_missing_npz(capfd, tmp_path):
    result = run_ngfx(capfd, "bench", "raster", "--mesh", tmp_path / "missing.npz", *SIZE, "--repeats", "2",
                      "--warmup", "1", "--out", tmp_path / "bench.json")
    assert_one_line_error(result, "missing.npz")


def test_bench_zero_repeats(capfd, tmp_path):
    from ngfx.scenes.primitives import uv_sphere

    mesh = uv_sphere(radius=1.0, segments=6, rings=3)
    np.savez(tmp_path / "s.npz", vertices=mesh.vertices, faces=mesh.faces)
    result = run_ngfx(capfd, "bench", "raster", "--mesh", tmp_path / "s.npz", *SIZE, "--repeats", "0",
                      "--warmup", "1", "--out", tmp_path / "bench.json")
    assert_one_line_error(result, "--repeats")


# --- the real console script --------------------------------------------------------------------------------
def ngfx_script() -> str:
    """The installed `ngfx` console script, beside this interpreter or on PATH."""
    beside = Path(sys.executable).with_name("ngfx")
    found = str(beside) if beside.is_file() else shutil.which("ngfx")
    if found is None:
        pytest.fail("the `ngfx` console script is not installed (pip install -e .)")
    return found


def run_script(*argv, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "NGFX_ARCH": "cpu"}
    return subprocess.run([ngfx_script(), *map(str, argv)], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False, timeout=120)


def test_script_bad_mesh_is_one_line_and_quiet(tmp_path):
    """open3d's own complaints about the file must not reach the terminal beside ngfx's line."""
    _write(tmp_path / "empty.obj", "v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    proc = run_script("render", "empty.obj", "--out", "out.png", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ngfx: error: ") and "empty.obj" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_script_debug_shows_the_traceback(tmp_path):
    proc = run_script("render", "missing.obj", "--out", "out.png", "--debug", cwd=tmp_path)
    assert proc.returncode not in (0, 2), proc
    assert "Traceback (most recent call last)" in proc.stderr and "InputError: missing.obj" in proc.stderr


def test_script_train_on_no_capture_is_one_line(tmp_path):
    proc = run_script("train", tmp_path, cwd=tmp_path)
    assert proc.returncode == 2, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ngfx: error: "), proc.stderr
    assert "transforms.json" in lines[0]
    assert "Traceback" not in proc.stderr
