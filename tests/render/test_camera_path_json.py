"""nerfstudio camera_path.json: row-major OpenGL c2w and vertical fov in, OpenCV Cameras out, and back."""

import json
import math

import numpy as np
import pytest

from ngfx.errors import InputError
from ngfx.render import paths
from ngfx.render.camera_path_json import load_camera_path, save_camera_path

W, H = 80, 60


def _c2w_gl(angle_rad: float, translation) -> np.ndarray:
    """A rigid OpenGL camera-to-world: a rotation about (1, 2, 3) and a translation."""
    axis = np.array([1.0, 2.0, 3.0]) / math.sqrt(14)
    x, y, z = axis
    cross = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    c2w = np.eye(4)
    c2w[:3, :3] = np.eye(3) + math.sin(angle_rad) * cross + (1 - math.cos(angle_rad)) * cross @ cross
    c2w[:3, 3] = translation
    return c2w


def _frame(c2w, fov=50.0, **extra) -> dict:
    return {"camera_to_world": np.asarray(c2w).ravel().tolist(), "fov": fov, "aspect": W / H, **extra}


def _write(tmp_path, frames, **top) -> str:
    data = {"camera_type": "perspective", "render_width": W, "render_height": H, "seconds": 2.0,
            "camera_path": frames, "keyframes": [{"ignored": True}], **top}
    path = tmp_path / "camera_path.json"
    path.write_text(json.dumps(data))
    return path


def test_load_converts_opengl_row_major_to_opencv(tmp_path):
    c2ws = [_c2w_gl(0.3 * i, [i, -1.0, 2.0]) for i in range(4)]
    path = _write(tmp_path, [_frame(c2w, fov=40.0 + i) for i, c2w in enumerate(c2ws)])
    loaded = load_camera_path(path)
    assert (loaded.render_width, loaded.render_height, loaded.seconds) == (W, H, 2.0)
    assert loaded.fps == pytest.approx(4 / 2.0) and loaded.times is None
    for i, (cam, c2w) in enumerate(zip(loaded.cameras, c2ws)):
        flip = np.diag([1.0, -1.0, -1.0, 1.0])  # OpenGL -> OpenCV: negate the camera's y and z axes
        np.testing.assert_allclose(cam.T_camera_world, np.linalg.inv(c2w @ flip), atol=1e-12)
        focal = 0.5 * H / math.tan(math.radians(40.0 + i) / 2)  # the fov is vertical
        np.testing.assert_allclose(cam.K, [[focal, 0, W / 2], [0, focal, H / 2], [0, 0, 1]], atol=1e-9)
        assert (cam.width, cam.height, cam.time) == (W, H, None)


def test_opengl_camera_looking_down_minus_z_sees_the_origin(tmp_path):
    c2w = np.eye(4)
    c2w[:3, 3] = [0, 0, 5]  # OpenGL looks along -z: the origin is straight ahead, 5 units away
    cam = load_camera_path(_write(tmp_path, [_frame(c2w)])).cameras[0]
    p = cam.T_camera_world @ [0, 0, 0, 1.0]
    assert p[2] == pytest.approx(5.0)
    uv = cam.K @ p[:3]
    np.testing.assert_allclose(uv[:2] / uv[2], [W / 2, H / 2], atol=1e-12)
    above = cam.T_camera_world @ [0, 1, 0, 1.0]  # world +y is OpenGL up, so it lands in the upper image half
    assert (cam.K @ above[:3])[1] / above[2] < H / 2


def test_render_time_maps_to_scene_time(tmp_path):
    frames = [_frame(_c2w_gl(0.1 * i, [0, 0, 3]), render_time=i / 4) for i in range(5)]
    path = _write(tmp_path, frames)
    assert load_camera_path(path).times == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])
    loaded = load_camera_path(path, duration_s=8.0)
    assert loaded.times == pytest.approx([0, 2, 4, 6, 8])
    assert [cam.time for cam in loaded.cameras] == pytest.approx([0, 2, 4, 6, 8])


@pytest.mark.parametrize("timed", [False, True])
def test_save_then_load_round_trips(tmp_path, timed):
    cameras = paths.orbit((0.5, 0.2, -1), 3.0, frames=9, elevation_deg=25, width=W, height=H, fov_y_deg=37)
    if timed:
        cameras = [cam.replace(time=0.75 * k) for k, cam in enumerate(cameras)]
    path = tmp_path / "out" / "path.json"
    path.parent.mkdir()
    save_camera_path(cameras, path, fps=24, duration_s=6.0 if timed else None)
    loaded = load_camera_path(path, duration_s=6.0 if timed else None)
    assert loaded.fps == pytest.approx(24) and len(loaded.cameras) == 9
    for before, after in zip(cameras, loaded.cameras):
        np.testing.assert_allclose(after.T_camera_world, before.T_camera_world, atol=1e-9)
        np.testing.assert_allclose(after.K, before.K, atol=1e-9)
        assert after.time == (pytest.approx(before.time, abs=1e-9) if timed else None)
    assert [p.name for p in path.parent.iterdir()] == ["path.json"], "temporary file left behind"


def test_save_rejects_what_the_format_cannot_hold(tmp_path):
    cam = paths.orbit((0, 0, 0), 2.0, frames=1, width=W, height=H)[0]
    off_centre = cam.replace(K=cam.K + [[0, 0, 3], [0, 0, 0], [0, 0, 0]])
    with pytest.raises(InputError) as err:
        save_camera_path([cam, off_centre], tmp_path / "p.json", fps=10)
    assert err.value.field == "cameras[1].K"
    with pytest.raises(InputError, match="render_time"):
        save_camera_path([cam.replace(time=3.0)], tmp_path / "p.json", fps=10)  # no duration: 3 > 1
    assert not (tmp_path / "p.json").exists()


def _bad_matrix(value):
    def edit(data):
        data["camera_path"][3]["camera_to_world"] = value
    return edit


def _set(key, value, frame=None):
    def edit(data):
        (data if frame is None else data["camera_path"][frame])[key] = value
    return edit


def _delete(key, frame=None):
    def edit(data):
        del (data if frame is None else data["camera_path"][frame])[key]
    return edit


NAN_MATRIX = np.eye(4).ravel().tolist()
NAN_MATRIX[5] = float("nan")
COLUMN_MAJOR = _c2w_gl(0.4, [1, 2, 3]).T.ravel().tolist()  # the translation lands in the last row


@pytest.mark.parametrize("edit,field", [
    (_bad_matrix(NAN_MATRIX), "camera_path[3].camera_to_world"),
    (_bad_matrix([1.0] * 12), "camera_path[3].camera_to_world"),
    (_bad_matrix(COLUMN_MAJOR), "camera_path[3].camera_to_world"),
    (_bad_matrix(np.diag([2.0, 2, 2, 1]).ravel().tolist()), "camera_path[3].camera_to_world"),  # not rigid
    (_set("camera_type", "fisheye"), "camera_type"),
    (_set("render_width", 0), "render_width"),
    (_set("render_height", -4), "render_height"),
    (_set("seconds", 0), "seconds"),
    (_delete("render_width"), "render_width"),
    (_delete("camera_path"), "camera_path"),
    (_set("camera_path", []), "camera_path"),
    (_delete("fov", frame=2), "camera_path[2].fov"),
    (_set("fov", "wide", frame=1), "camera_path[1].fov"),
    (_set("render_time", 0.5, frame=2), "camera_path[2].render_time"),  # on some frames only
    (_set("aspect", -1.0, frame=0), "camera_path[0].aspect"),
])
def test_load_names_file_and_field_of_bad_input(tmp_path, edit, field):
    data = {"camera_type": "perspective", "render_width": W, "render_height": H, "seconds": 1.0,
            "camera_path": [_frame(_c2w_gl(0.2 * i, [0, 0, 4])) for i in range(5)]}
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))  # json writes NaN as a bare NaN token, which json.loads accepts
    with pytest.raises(InputError) as err:
        load_camera_path(path)
    assert err.value.field == field
    assert err.value.file == path and str(path) in str(err.value) and field in str(err.value)


def test_load_rejects_render_time_out_of_range_and_bad_json(tmp_path):
    path = _write(tmp_path, [_frame(np.eye(4), render_time=1.5)])
    with pytest.raises(InputError) as err:
        load_camera_path(path)
    assert err.value.field == "camera_path[0].render_time"
    path.write_text('{"render_width": 80, ')
    with pytest.raises(InputError, match="JSON"):
        load_camera_path(path)
    with pytest.raises(InputError, match="not found"):
        load_camera_path(tmp_path / "missing.json")
