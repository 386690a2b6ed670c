"""Every `ngfx` subcommand end to end, headless and in-process, at 64x48 with a few frames.

Beyond "it ran", each test checks something that would be wrong if the command misbehaved: frame counts and
sizes of videos, images that are not all background, camera-path poses landing where the OpenGL convention
puts them, depth values in scene units, flags that change (or do not change) pixels, and atomic outputs.
"""

import json
import os

import numpy as np
import pytest

from ngfx.render.output import VideoInfo, read_video_info
from tests.cli.cli_inputs import (
    LIGHT_NODE,
    SIZE,
    H,
    W,
    assert_one_line_error,
    background_fraction,
    gl_pose,
    read_png,
    run_ngfx,
    uint8_rgb,
    write_camera_path,
    write_cube_obj,
    write_json,
)

DEMO_BG = uint8_rgb([0.62, 0.72, 0.85])  # the demo scene's background (ngfx.render.demo_scene)
MESH_BG = uint8_rgb([0.1, 0.1, 0.12])  # a lone mesh file's background (ngfx.render.sources)


@pytest.fixture(autouse=True)
def _cpu(cpu_arch):
    """Every test here renders on Taichi's CPU backend."""


def render(capfd, scene, out, *flags):
    result = run_ngfx(capfd, "render", scene, "--out", out, *SIZE, "--no-progress", *flags)
    assert result.code == 0, result.err
    return result


def assert_drawn(image: np.ndarray, background, *, at_least: float = 0.05) -> None:
    """The image shows something: at least `at_least` of its pixels differ from the background."""
    assert image.shape == (H, W, 3) and image.dtype == np.uint8, (image.shape, image.dtype)
    covered = 1.0 - background_fraction(image, background)
    assert covered >= at_least, f"only {covered:.3f} of the pixels differ from the background {background}"


def listing(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- info ---------------------------------------------------------------------------------------------------
def test_info_says_why_a_working_backend_was_not_picked(capfd, monkeypatch):
    from ngfx.kernels import runtime

    monkeypatch.setattr(runtime, "available_archs", lambda: {"cuda": False, "vulkan": True, "cpu": True})
    monkeypatch.setattr(runtime, "choose_arch", lambda: "cpu")
    monkeypatch.delenv("NGFX_ARCH")
    monkeypatch.setattr(runtime, "hardware_vulkan_icds", list)
    text = run_ngfx(capfd, "info").out
    assert "backend ngfx picks: cpu" in text and "not vulkan: the only Vulkan driver that starts here is a " \
        "software one" in text and "--arch vulkan" in text, text
    monkeypatch.setattr(runtime, "hardware_vulkan_icds", lambda: ["/usr/share/vulkan/icd.d/radeon_icd.json"])
    assert "the hardware drivers installed (radeon_icd.json) found no device" in run_ngfx(capfd, "info").out
    monkeypatch.setenv("NGFX_ARCH", "cpu")
    reasons = json.loads(run_ngfx(capfd, "info", "--json").out)["not_chosen"]
    assert reasons == {"vulkan": "NGFX_ARCH=cpu asks for cpu"}
    both = {"cuda": True, "vulkan": True, "cpu": True}
    monkeypatch.delenv("NGFX_ARCH")
    monkeypatch.setattr(runtime.torch.cuda, "is_available", lambda: False)
    assert "torch sees no CUDA GPU" in runtime.why_not_chosen(both, "cpu")["cuda"]
    assert runtime.why_not_chosen(both, "cuda") == {"vulkan": "CUDA comes first", "cpu": "cuda comes first"}


def test_info_text_and_json(capfd):
    text = run_ngfx(capfd, "info")
    assert text.code == 0 and "Taichi backends that start here:" in text.out and "cpu" in text.out, text
    result = run_ngfx(capfd, "info", "--json")
    assert result.code == 0, result.err
    info = json.loads(result.out)
    assert {"ngfx", "python", "torch", "taichi", "numpy", "backends", "chosen", "gpu"} <= set(info)
    assert info["backends"]["cpu"] is True  # the tests themselves run on it
    assert info["chosen"] == os.environ["NGFX_ARCH"]  # tests/conftest.py sets it


# --- render: output kinds ---------------------------------------------------------------------------------
def test_render_demo_mp4_has_the_frames_and_size(capfd, tmp_path):
    result = render(capfd, "demo", tmp_path / "x.mp4", "--frames", "3", "--fps", "12")
    assert "3 frames" in result.out
    assert read_video_info(tmp_path / "x.mp4") == VideoInfo(frames=3, width=W, height=H, fps=12.0)
    assert listing(tmp_path) == ["x.mp4"]  # no temporaries left beside it


def test_render_demo_png_is_one_drawn_image(capfd, tmp_path):
    result = render(capfd, "demo", tmp_path / "x.png")
    assert "1 frame," in result.out
    image = read_png(tmp_path / "x.png")
    assert_drawn(image, DEMO_BG, at_least=0.1)
    assert image.std() > 10  # lit, textured objects, not a flat fill
    assert listing(tmp_path) == ["x.png"]


def test_render_folder_with_depth(capfd, tmp_path):
    out = tmp_path / "frames"
    render(capfd, "demo", out, "--frames", "3", "--depth")
    names = [f"frame_{k:05d}.png" for k in range(3)] + [f"depth_{k:05d}.png" for k in range(3)]
    assert listing(out) == sorted(names + ["depth.json"])
    meta = json.loads((out / "depth.json").read_text())
    assert meta["depth_scale"] > 0 and meta["empty_value"] == 0
    for k in range(3):
        assert_drawn(read_png(out / f"frame_{k:05d}.png"), DEMO_BG, at_least=0.1)
        depth = read_png(out / f"depth_{k:05d}.png")
        assert depth.shape == (H, W) and depth.dtype == np.uint16
        z = depth[depth > 0] * meta["depth_scale"]  # the demo is a few metres across, seen from outside
        assert 0.1 < (depth > 0).mean() and 0.1 < z.min() < z.max() < 50.0, (z.min(), z.max())
    frames = [read_png(out / f"frame_{k:05d}.png") for k in range(3)]
    assert not np.array_equal(frames[0], frames[1])  # the orbit moves


def test_render_png_with_depth_writes_a_sibling_folder(capfd, tmp_path):
    render(capfd, "demo", tmp_path / "x.png", "--depth")
    assert listing(tmp_path) == ["x.png", "x_depth"]
    assert listing(tmp_path / "x_depth") == ["depth.json", "depth_00000.png"]


# --- render: camera trajectories, time, background -------------------------------------------------------
def test_default_camera_orbit_and_spiral(capfd, tmp_path):
    """The demo has a camera: by default it renders from it; --orbit and --spiral move around the scene."""
    for name, flags in (("default", ()), ("orbit", ("--orbit",)), ("spiral", ("--spiral",))):
        render(capfd, "demo", tmp_path / name, "--frames", "3", *flags)
    frames = [f"frame_{k:05d}.png" for k in range(3)]
    orbit = [read_png(tmp_path / "orbit" / f) for f in frames]
    for k, f in enumerate(frames):
        assert_drawn(read_png(tmp_path / "spiral" / f), DEMO_BG, at_least=0.03)
        assert not np.array_equal(read_png(tmp_path / "default" / f), orbit[k]), "default should be the scene camera"
    assert not np.array_equal(orbit[0], orbit[1]), "the orbit does not move"
    assert any(not np.array_equal(read_png(tmp_path / "spiral" / f), o) for f, o in zip(frames, orbit))


def test_orbit_is_the_default_without_scene_cameras(capfd, tmp_path):
    mesh = write_cube_obj(tmp_path / "cube.obj")
    for name, flags in (("default", ()), ("orbit", ("--orbit",))):
        render(capfd, mesh, tmp_path / name, "--frames", "2", *flags)
    for k in range(2):
        f = f"frame_{k:05d}.png"
        np.testing.assert_array_equal(read_png(tmp_path / "default" / f), read_png(tmp_path / "orbit" / f))


def test_orbit_and_spiral_exclude_each_other(capfd, tmp_path):
    with pytest.raises(SystemExit) as exit_info:  # argparse's mutually exclusive group
        run_ngfx(capfd, "render", "demo", "--orbit", "--spiral", "--out", tmp_path / "x.png")
    assert exit_info.value.code == 2


def test_time_flag_moves_the_animation(capfd, tmp_path):
    render(capfd, "demo", tmp_path / "default.png")
    render(capfd, "demo", tmp_path / "t0.png", "--time", "0")
    render(capfd, "demo", tmp_path / "t1.png", "--time", "1.0")
    t0 = read_png(tmp_path / "t0.png")
    np.testing.assert_array_equal(read_png(tmp_path / "default.png"), t0)  # one frame: time 0 by default
    assert (read_png(tmp_path / "t1.png") != t0).any(axis=-1).sum() >= 10  # the torus spun and rose


@pytest.mark.parametrize("flag, expected", [(None, MESH_BG), ("0,1,0", (0, 255, 0)), ("255,0,0", (255, 0, 0)),
                                            ("0.2,0.4,0.6", uint8_rgb([0.2, 0.4, 0.6]))])
def test_background_flag(capfd, tmp_path, flag, expected):
    cube = write_cube_obj(tmp_path / "cube.obj")
    render(capfd, cube, tmp_path / "x.png", *(("--background", flag) if flag else ()))
    image = read_png(tmp_path / "x.png")
    assert tuple(image[0, 0]) == expected and tuple(image[-1, -1]) == expected, (image[0, 0], image[-1, -1])
    assert_drawn(image, expected)


# --- render: camera paths -----------------------------------------------------------------------------------
@pytest.fixture
def cube_scene(tmp_path):
    """A scene file: the unit cube primitive at the origin on black, with one light."""
    nodes = [{"name": "cube", "type": "mesh", "primitive": {"shape": "box", "size": [1, 1, 1]},
              "material": {"color": [0.9, 0.9, 0.9]}}, LIGHT_NODE]
    return write_json(tmp_path / "cube_scene.json", {"nodes": nodes, "background": [0, 0, 0]})


def column_centroid(image: np.ndarray) -> float:
    covered = image.max(axis=-1) > 0
    assert covered.any()
    return float(np.nonzero(covered)[1].mean() + 0.5)


def test_camera_path_poses_follow_the_opengl_convention(capfd, tmp_path, cube_scene):
    # frame 0 at z = 3 looking down -z at the cube; frame 1 moved 0.5 to the right (+x): the cube moves left
    path = write_camera_path(tmp_path / "camera_path.json", [gl_pose(0, 0, 3), gl_pose(0.5, 0, 3)], fov=50.0,
                             seconds=0.5)
    out = tmp_path / "frames"
    render(capfd, cube_scene, out, "--camera-path", path, "--depth")
    first, second = read_png(out / "frame_00000.png"), read_png(out / "frame_00001.png")
    assert first.shape == (H, W, 3)
    assert first[H // 2, W // 2].max() > 0 and first[0, 0].max() == 0 and first[-1, -1].max() == 0
    assert abs(column_centroid(first) - W / 2) < 1.0  # centred: the translation was read from the last column
    f = 0.5 * H / np.tan(np.radians(25.0))  # vertical fov 50 degrees over 48 pixels
    assert column_centroid(second) < W / 2 - 0.5 * f * 0.5 / 2.5  # at least half the front face's shift
    depth = read_png(out / "depth_00000.png") * json.loads((out / "depth.json").read_text())["depth_scale"]
    assert depth[H // 2, W // 2] == pytest.approx(2.5, abs=2e-3)  # the front face z = 0.5, camera at z = 3

    render(capfd, cube_scene, tmp_path / "x.mp4", "--camera-path", path)
    info = read_video_info(tmp_path / "x.mp4")
    assert (info.frames, info.width, info.height, info.fps) == (2, W, H, 4.0)  # fps = frames / seconds


def test_scene_camera_sets_the_default_size_and_aspect(capfd, tmp_path, cube_scene):
    """A trained run's scene.json holds 4:3 capture cameras: `ngfx render RUN` renders 4:3 at their size (it
    used to fit them into 1280x720, widening the view into background margins)."""
    from ngfx.render.headless import default_size, plan_frames
    from ngfx.render.sources import load_source

    scene_json = json.loads(cube_scene.read_text())
    scene_json["cameras"] = [{"width": 40, "height": 30, "K": [[40, 0, 20], [0, 40, 15], [0, 0, 1]],
                              "T_camera_world": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 3], [0, 0, 0, 1]]}]
    scene_file = write_json(tmp_path / "run_scene.json", scene_json)
    for name, flags in (("auto.png", ()), ("orbit.png", ("--orbit",))):
        result = run_ngfx(capfd, "render", scene_file, "--out", tmp_path / name, "--no-progress", *flags)
        assert result.code == 0, result.err
        assert read_png(tmp_path / name).shape == (30, 40, 3), name
    image = read_png(tmp_path / "auto.png")  # the cube, seen from z = 3 with f = 40, is in the middle
    assert image[15, 20].max() > 0 and image[0, 0].max() == 0 and image[-1, -1].max() == 0
    scene = load_source(str(scene_file))
    assert plan_frames(scene, width=80).cameras[0].height == 60  # one side given: the aspect is kept
    assert plan_frames(scene, height=60, trajectory="orbit").cameras[0].width == 80
    assert default_size(scene, None, None, within=(20, 20)) == (20, 15)  # the viewer's window: its aspect
    assert default_size(scene, None, None, within=(1280, 720)) == (960, 720)  # filling the box
    assert default_size(load_source("demo"), None, None) == (1280, 720)


def test_camera_path_render_time_drives_scene_time(capfd, tmp_path):
    pose = gl_pose(0.0, 1.1, 4.0)  # facing the demo's animated torus
    path = write_camera_path(tmp_path / "camera_path.json", [pose] * 3, render_times=[0.0, 0.25, 0.0])
    render(capfd, "demo", tmp_path / "timed", "--camera-path", path)
    frames = [read_png(tmp_path / "timed" / f"frame_{k:05d}.png") for k in range(3)]
    np.testing.assert_array_equal(frames[0], frames[2])
    assert (frames[0] != frames[1]).any(axis=-1).sum() >= 10  # a quarter of the 4 s loop later
    render(capfd, "demo", tmp_path / "fixed", "--camera-path", path, "--time", "0")  # --time overrides
    np.testing.assert_array_equal(read_png(tmp_path / "fixed" / "frame_00001.png"), frames[0])


# --- sources: mesh files, scene files, folders ----------------------------------------------------------
def test_render_mesh_files_written_here(capfd, tmp_path):
    from ngfx.render.export import write_mesh
    from ngfx.scenes.primitives import uv_sphere

    obj = write_cube_obj(tmp_path / "cube.obj")
    write_mesh(uv_sphere(radius=0.5, segments=12, rings=6), tmp_path / "sphere.ply")
    for mesh in (obj, tmp_path / "sphere.ply"):
        render(capfd, mesh, tmp_path / f"{mesh.stem}.png")
        assert_drawn(read_png(tmp_path / f"{mesh.stem}.png"), MESH_BG, at_least=0.1)


def write_cube_and_moon_scene(folder, *, moon: bool = True, moon_visible: bool = True):
    """scene.json in `folder` naming assets/cube.obj relatively, with a sphere child ("moon") at x = +1.2."""
    write_cube_obj(folder / "assets" / "cube.obj")
    child = {"name": "moon", "type": "mesh", "primitive": {"shape": "sphere", "radius": 0.3},
             "transform": {"translation": [1.2, 0.0, 0.0]}}
    if not moon_visible:
        child["visible"] = False
    cube = {"name": "cube", "type": "mesh", "path": "assets/cube.obj", "children": [child] if moon else []}
    return write_json(folder / "scene.json", {"nodes": [cube, LIGHT_NODE], "background": [0, 0, 0]})


def test_scene_file_with_relative_mesh_and_child(capfd, tmp_path, monkeypatch):
    path = write_camera_path(tmp_path / "camera_path.json", [gl_pose(0, 0, 4)])
    images = {}
    for name, kwargs in (("moon", {}), ("hidden", {"moon_visible": False}), ("none", {"moon": False})):
        scene = write_cube_and_moon_scene(tmp_path / name, **kwargs)
        elsewhere = tmp_path / "cwd"
        elsewhere.mkdir(exist_ok=True)
        monkeypatch.chdir(elsewhere)  # relative paths resolve against the scene file, not the cwd
        render(capfd, scene, tmp_path / f"{name}.png", "--camera-path", path)
        images[name] = read_png(tmp_path / f"{name}.png")
    assert_drawn(images["moon"], (0, 0, 0))
    np.testing.assert_array_equal(images["hidden"], images["none"])  # "visible": false hides the child
    moon_pixels = (images["moon"] != images["none"]).any(axis=-1)
    assert moon_pixels.sum() >= 10 and np.nonzero(moon_pixels)[1].mean() > W / 2  # drawn, at +x (right)


def test_demo_writes_video_poster_and_a_scene_that_renders(capfd, tmp_path):
    out = tmp_path / "demo-out"
    result = run_ngfx(capfd, "demo", "--out", out, "--frames", "3", *SIZE, "--no-progress", "--no-train")
    assert result.code == 0, result.err
    assert listing(out) == ["poster.png", "scene.json", "turntable.mp4"]
    info = read_video_info(out / "turntable.mp4")
    assert (info.frames, info.width, info.height, info.fps) == (3, W, H, 24.0)
    assert_drawn(read_png(out / "poster.png"), DEMO_BG, at_least=0.1)
    # the saved scene is the demo: it renders exactly like the built-in one, from the file and from its folder
    render(capfd, "demo", tmp_path / "builtin.png")
    render(capfd, out / "scene.json", tmp_path / "saved.png")
    render(capfd, out, tmp_path / "folder.png")
    builtin = read_png(tmp_path / "builtin.png")
    np.testing.assert_array_equal(read_png(tmp_path / "saved.png"), builtin)
    np.testing.assert_array_equal(read_png(tmp_path / "folder.png"), builtin)


def test_export_then_render_the_mesh(capfd, tmp_path):
    from ngfx.scenes.mesh_io import load_mesh

    result = run_ngfx(capfd, "export", "demo", "--out", tmp_path / "m.ply")
    assert result.code == 0, result.err
    assert listing(tmp_path) == ["m.ply"]
    mesh = load_mesh(tmp_path / "m.ply")
    assert f"{len(mesh.vertices):,} vertices, {len(mesh.faces):,} triangles" in result.out
    assert len(mesh.faces) > 1000 and mesh.vertex_colors is not None
    render(capfd, tmp_path / "m.ply", tmp_path / "m.png")
    assert_drawn(read_png(tmp_path / "m.png"), MESH_BG, at_least=0.1)


def test_train_on_a_folder_that_is_no_capture(capfd, tmp_path):
    line = assert_one_line_error(run_ngfx(capfd, "train", tmp_path), str(tmp_path))
    assert "transforms.json" in line  # says what it looked for


def test_bench_raster_writes_json_rows(capfd, tmp_path):
    from ngfx.scenes.primitives import uv_sphere

    mesh = uv_sphere(radius=1.0, segments=12, rings=6)
    np.savez(tmp_path / "sphere.npz", vertices=mesh.vertices, faces=mesh.faces)
    result = run_ngfx(capfd, "bench", "raster", "--mesh", tmp_path / "sphere.npz", *SIZE, "--repeats", "2",
                      "--warmup", "1", "--out", tmp_path / "bench.json")
    assert result.code == 0, result.err
    assert listing(tmp_path) == ["bench.json", "sphere.npz"]
    record = json.loads((tmp_path / "bench.json").read_text())
    assert record["suite"] == "raster" and record["arch"] == "cpu" and record["triangles"] == len(mesh.faces)
    assert (record["width"], record["height"]) == (W, H) and len(record["rows"]) == 8
    for row in record["rows"]:
        assert row["raster_ms"] > 0 and row["frame_ms"] > 0 and 0.05 < row["coverage"] <= 1.0, row


# --- view ---------------------------------------------------------------------------------------------------
@pytest.mark.display
def test_view_screenshot_equals_headless_render_of_the_first_camera(capfd, tmp_path):
    if not os.environ.get("DISPLAY"):
        pytest.skip("no X display (tests/conftest.py starts Xvfb when it is installed)")
    from ngfx.cli.view import initial_camera
    from ngfx.render.core import SceneRenderer
    from ngfx.render.output import to_uint8
    from ngfx.render.sources import load_source

    shot = tmp_path / "s.png"
    result = run_ngfx(capfd, "view", "demo", "--screenshot", shot, "--frames", "2", *SIZE)
    assert result.code == 0, result.err
    # the viewer opens on the scene's first camera and plays: frame k shows time k / 30 (ngfx.viewer.app)
    scene = load_source("demo")
    expected = to_uint8(SceneRenderer(scene).render(initial_camera(scene, W, H), 1.0 / 30.0).rgb)
    image = read_png(shot)
    assert image.shape == expected.shape
    assert np.abs(image.astype(np.int16) - expected.astype(np.int16)).max() <= 1
    umask = os.umask(0)
    os.umask(umask)
    render(capfd, "demo", tmp_path / "r.png")
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in (shot, tmp_path / "r.png")}
    assert modes == {"s.png": oct(0o666 & ~umask), "r.png": oct(0o666 & ~umask)}  # was 0600 for the screenshot


# --- atomic outputs --------------------------------------------------------------------------------------
class RenderFails(RuntimeError):
    pass


def fail_on_frame(monkeypatch, n: int, error=RenderFails):
    """Make SceneRenderer.render raise `error` on its n-th call (1-based); returns the call log (clear it
    to count again)."""
    from ngfx.render.core import SceneRenderer

    real, calls = SceneRenderer.render, []

    def render(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise error(f"render failed on frame {n}")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SceneRenderer, "render", render)
    return calls


@pytest.mark.parametrize("out, flags, fail_at", [("x.mp4", ("--frames", "3"), 2),
                                                 ("frames", ("--frames", "3", "--depth"), 2),
                                                 ("x.png", ("--depth",), 1)])
def test_failed_render_leaves_nothing(capfd, tmp_path, monkeypatch, out, flags, fail_at):
    folder = tmp_path / "out"
    folder.mkdir()
    fail_on_frame(monkeypatch, fail_at)
    with pytest.raises(RenderFails):
        run_ngfx(capfd, "render", "demo", "--out", folder / out, *SIZE, "--no-progress", *flags)
    assert listing(folder) == []  # no final name, no temporaries (hidden ones included)


def test_failed_render_keeps_the_previous_output(capfd, tmp_path, monkeypatch):
    render(capfd, "demo", tmp_path / "frames", "--frames", "2")
    render(capfd, "demo", tmp_path / "x.mp4", "--frames", "2")
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    calls = fail_on_frame(monkeypatch, 3)
    for out in ("frames", "x.mp4"):
        calls.clear()
        with pytest.raises(RenderFails):
            run_ngfx(capfd, "render", "demo", "--out", tmp_path / out, *SIZE, "--no-progress",
                     "--frames", "4")
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before and listing(tmp_path) == ["frames", "x.mp4"]


def test_interrupted_render_exits_130_and_leaves_nothing(capfd, tmp_path, monkeypatch):
    fail_on_frame(monkeypatch, 2, KeyboardInterrupt)
    result = run_ngfx(capfd, "render", "demo", "--out", tmp_path / "x.mp4", *SIZE, "--no-progress",
                      "--frames", "3")
    assert result.code == 130 and "interrupted" in result.err
    assert listing(tmp_path) == []
