"""transforms.json / Blender / D-NeRF loaders: conventions checked numerically against an independent OpenGL
projection, every intrinsics variant, splits, and every bad input; real fox and lego400 when present."""

import json
import math
import warnings

import imageio.v3 as iio
import numpy as np
import pytest

from ngfx.errors import InputError
from ngfx.scenes.captures.capture import LoadOptions
from ngfx.scenes.captures.nerf_json import load_blender, load_transforms

W, H = 8, 6


def look_at_gl(eye, target=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """OpenGL camera-to-world (+x right, +y up, looking down -z), built here independently of ngfx."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    back = (eye - target) / np.linalg.norm(eye - target)
    right = np.cross(up, back) / np.linalg.norm(np.cross(up, back))
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2], T[:3, 3] = right, np.cross(back, right), back, eye
    return T


def project_gl(c2w_gl, fx, fy, cx, cy, point) -> np.ndarray:
    """Pixel (continuous, centres at +0.5) of a world point seen by an OpenGL camera: image rows grow down."""
    x, y, z = (np.linalg.inv(c2w_gl) @ np.append(point, 1.0))[:3]
    return np.array([cx + fx * x / -z, cy - fy * y / -z])


def project(camera, point) -> tuple[np.ndarray, float]:
    p = camera.T_camera_world @ np.append(point, 1.0)
    uvw = camera.K @ p[:3]
    return uvw[:2] / uvw[2], p[2]


def ring(n, radius=4.0, height=1.5):
    return [look_at_gl((radius * math.cos(a), radius * math.sin(a), height))
            for a in np.linspace(0, 2 * math.pi, n, endpoint=False)]


def write_image(path, size=(W, H), alpha=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, np.full((size[1], size[0], 4 if alpha else 3), 128, np.uint8))


def write_transforms(folder, n=5, top=None, frame_extra=None, name="transforms.json", image_dir="images",
                     suffix=".png", write_suffix=True, alpha=False, size=(W, H)):
    """A tiny capture: n ring cameras around the origin, PNG images, top-level and per-frame keys."""
    frames = []
    for i, c2w in enumerate(ring(n)):
        rel = f"./{image_dir}/{i:04d}"
        write_image(folder / f"{image_dir}/{i:04d}{suffix}", size, alpha)
        frame = {"file_path": rel + (suffix if write_suffix else ""), "transform_matrix": c2w.tolist()}
        frame.update((frame_extra or (lambda i: {}))(i))
        frames.append(frame)
    path = folder / name
    path.write_text(json.dumps({**(top or {}), "frames": frames}))
    return path


NGP = {"fl_x": 7.0, "fl_y": 6.5, "cx": 4.25, "cy": 2.75, "w": 8.0, "h": 6}


def test_per_scene_intrinsics_match_an_independent_opengl_projection(tmp_path):
    write_transforms(tmp_path, n=5, top=NGP)
    capture = load_transforms(tmp_path)
    assert capture.format == "transforms" and len(capture.frames) == 5 and not capture.is_dynamic
    assert capture.up == (0.0, 0.0, 1.0) and capture.scene_box is None and not capture.rgba
    point = np.array([0.3, -0.2, 0.25])
    for frame, c2w in zip(capture.frames, ring(5), strict=True):
        cam = frame.camera
        assert (cam.width, cam.height, cam.time, frame.distortion) == (W, H, None, None)
        uv, _ = project(cam, point)
        np.testing.assert_allclose(uv, project_gl(c2w, 7.0, 6.5, 4.25, 2.75, point), atol=1e-9,
                                   err_msg=frame.camera.name)
        assert project(cam, np.zeros(3))[1] > 0  # the origin, looked at, is in front (OpenCV +z)
        np.testing.assert_allclose(cam.position, c2w[:3, 3], atol=1e-12)


def test_per_frame_intrinsics_override_the_top_level(tmp_path):
    write_transforms(tmp_path, n=4, top={"fl_x": 5.0, "w": W, "h": H},
                     frame_extra=lambda i: {"fl_x": 5.0 + i, "cx": 3.5 + 0.25 * i})
    for i, frame in enumerate(load_transforms(tmp_path / "transforms.json").frames):
        np.testing.assert_allclose(frame.camera.K, [[5 + i, 0, 3.5 + 0.25 * i], [0, 5 + i, H / 2], [0, 0, 1]])


@pytest.mark.parametrize("top, fx, fy", [
    ({"camera_angle_x": 1.2}, 4 / math.tan(0.6), 4 / math.tan(0.6)),
    ({"camera_angle_x": 1.2, "camera_angle_y": 1.0}, 4 / math.tan(0.6), 3 / math.tan(0.5)),
    ({"x_fov": 60.0}, 4 / math.tan(math.radians(30)), 4 / math.tan(math.radians(30))),
])
def test_fields_of_view_and_sizes_from_the_image_header(tmp_path, top, fx, fy):
    write_transforms(tmp_path, n=3, top=top, write_suffix=False)  # file_path without extension
    frame = load_transforms(tmp_path).frames[0]
    assert (frame.camera.width, frame.camera.height) == (W, H) and frame.image_path.suffix == ".png"
    np.testing.assert_allclose(frame.camera.K, [[fx, 0, W / 2], [0, fy, H / 2], [0, 0, 1]])


@pytest.mark.parametrize("coeffs, expected", [
    ({"k1": 0.1, "k2": -0.05, "p1": 0.001, "p2": -0.002}, (0.1, -0.05, 0.001, -0.002)),
    ({"k1": 0.1, "k3": 0.01}, (0.1, 0.0, 0.0, 0.0, 0.01, 0.0)),
    ({"k1": 0.0, "k2": 0.0}, None),
])
def test_distortion_goes_on_the_frame(tmp_path, coeffs, expected):
    write_transforms(tmp_path, n=2, top={**NGP, **coeffs})
    assert all(f.distortion == expected for f in load_transforms(tmp_path).frames)


def test_aabb_scale_is_instant_ngps_box_in_world_units(tmp_path):
    write_transforms(tmp_path, n=2, top={**NGP, "aabb_scale": 4})
    lo, hi = load_transforms(tmp_path).scene_box
    np.testing.assert_allclose(np.stack([lo, hi]), [[-2 / 0.33] * 3, [2 / 0.33] * 3])
    write_transforms(tmp_path, n=2, top={**NGP, "aabb_scale": 2, "scale": 0.5, "offset": [0.5, 0.0, 1.0]})
    lo, hi = load_transforms(tmp_path).scene_box
    np.testing.assert_allclose(np.stack([lo, hi]), [[-2, -1, -3], [2, 3, 1]])


@pytest.mark.parametrize("split, val", [("auto", [0, 8]), ("every:3", [0, 3, 6, 9]),
                                        ("cameras:0002,images/0005", [2, 5])])
def test_splits_of_a_single_transforms_json(tmp_path, split, val):
    write_transforms(tmp_path, n=10, top=NGP)
    frames = load_transforms(tmp_path, LoadOptions(split=split)).frames
    assert [i for i, f in enumerate(frames) if f.split == "val"] == val
    assert [f.image_path.stem for f in frames] == [f"{i:04d}" for i in range(10)]  # sorted by path


@pytest.mark.parametrize("split, message", [("half", "unknown split"), ("every:1", "unknown split"),
                                            ("cameras:", "unknown split"),
                                            ("cameras:0099", "not in this capture")])
def test_bad_split_names_the_field(tmp_path, split, message):
    write_transforms(tmp_path, n=3, top=NGP)
    with pytest.raises(InputError, match=message) as err:
        load_transforms(tmp_path, LoadOptions(split=split))
    assert err.value.field == "split"


def write_blender(folder, times=False, splits=("train", "val", "test"), n=3):
    for s in splits:
        extra = (lambda i: {"time": i / (n - 1), "rotation": 0.0}) if times else (lambda i: {"rotation": 0.0})
        write_transforms(folder, n=n, top={"camera_angle_x": 0.9}, name=f"transforms_{s}.json", image_dir=s,
                         frame_extra=extra, write_suffix=False, alpha=True)


def test_blender_keeps_its_three_splits_and_alpha(tmp_path):
    write_blender(tmp_path)
    capture = load_blender(tmp_path)
    assert capture.format == "blender" and capture.rgba and not capture.is_dynamic
    assert [len(capture.split(s)) for s in ("train", "val", "test")] == [3, 3, 3]
    assert capture.frames[3].camera.name == "val/0000" and capture.up == (0.0, 0.0, 1.0)
    f = 0.5 * W / math.tan(0.45)
    for frame, c2w in zip(capture.split("test"), ring(3), strict=True):
        uv, _ = project(frame.camera, np.array([0.1, 0.2, 0.3]))
        np.testing.assert_allclose(uv, project_gl(c2w, f, f, W / 2, H / 2, [0.1, 0.2, 0.3]), atol=1e-9)
    # the folder goes to load_blender through load_transforms too; an explicit split pools every file
    assert len(load_transforms(tmp_path).frames) == 9
    pooled = load_blender(tmp_path, LoadOptions(split="cameras:val/0001"))
    assert [f.camera.name for f in pooled.frames if f.split == "val"] == ["val/0001"]
    assert {f.split for f in load_blender(tmp_path, LoadOptions(split="every:4")).frames} == {"train", "val"}


def test_dnerf_times_set_camera_time(tmp_path):
    write_blender(tmp_path, times=True, splits=("train", "val"), n=3)
    capture = load_blender(tmp_path / "transforms_train.json")  # a file names its folder
    assert capture.format == "dnerf" and capture.is_dynamic
    assert [f.camera.time for f in capture.frames] == [0.0, 0.5, 1.0] * 2


def test_images_n_folders_are_used_with_downscale(tmp_path):
    write_transforms(tmp_path, n=2, top=NGP)
    for i in range(2):
        write_image(tmp_path / f"images_2/{i:04d}.png", (W // 2, H // 2))
    frame = load_transforms(tmp_path, LoadOptions(downscale=2)).frames[0]
    assert frame.image_path.parent.name == "images_2" and (frame.camera.width, frame.camera.height) == (4, 3)
    np.testing.assert_allclose(frame.camera.K[:2], [[3.5, 0, 2.125], [0, 3.25, 1.375]])
    assert load_transforms(tmp_path, LoadOptions(downscale=4)).frames[0].image_path.parent.name == "images"


# --- bad input: one InputError naming the file, the field and what to do ----------------------------------

def test_missing_and_malformed_json(tmp_path):
    with pytest.raises(InputError, match="no transforms.json"):
        load_transforms(tmp_path)
    with pytest.raises(InputError, match="file not found"):
        load_transforms(tmp_path / "nope.json")
    with pytest.raises(InputError, match="no transforms_train.json"):
        load_blender(tmp_path)
    (tmp_path / "transforms.json").write_text('{"fl_x": 5,\n  "frames": [,]}')
    with pytest.raises(InputError, match="malformed JSON at line 2, column 14") as err:
        load_transforms(tmp_path)
    assert err.value.file == tmp_path / "transforms.json"
    (tmp_path / "transforms.json").write_text('{"fl_x": 5}')
    with pytest.raises(InputError, match="'frames' list"):
        load_transforms(tmp_path)


def test_non_finite_matrices_are_counted_and_the_first_named(tmp_path):
    path = write_transforms(tmp_path, n=6, top=NGP)
    data = json.loads(path.read_text())
    for i in (1, 3, 4):
        data["frames"][i]["transform_matrix"][0][3] = float("nan") if i != 3 else float("inf")
    path.write_text(json.dumps(data))  # json writes NaN / Infinity, as Python tools do
    with pytest.raises(InputError, match=r"3 frames have non-finite transform_matrix, first: frames\[1\] "
                                         r"\(\./images/0001\.png\)") as err:
        load_transforms(path)
    assert err.value.field == "frames[1].transform_matrix"


@pytest.mark.parametrize("mutate, message, field", [
    (lambda d: d["frames"][2].__setitem__("transform_matrix", [[1, 0, 0], [0, 1, 0]]), "4x4",
     "frames[2].transform_matrix"),
    (lambda d: d["frames"][1].__setitem__("transform_matrix", (2 * np.eye(4)).tolist()), "not a rotation",
     "frames[1].transform_matrix"),
    (lambda d: d["frames"][0].pop("file_path"), "file_path", "frames[0].file_path"),
    (lambda d: [d.pop(k) for k in ("fl_x", "fl_y")], "no focal length", "fl_x"),
    (lambda d: d.update(w=16, h=12), "declares 16x12 but 0000.png is 8x6", "w"),
    (lambda d: d["frames"][1].update(w=8.5), "not a pair of positive whole numbers", "frames[1].w"),
    (lambda d: d.update(cx=40.0), "do not fit a 8x6 image", "cx"),
    (lambda d: d.update(fl_x="7"), "not a finite number", "fl_x"),
    (lambda d: d.update(camera_angle_x=4.0, fl_x=None, fl_y=None), r"not in \(0, pi\)", "camera_angle_x"),
    (lambda d: d.update(is_fisheye=True), "fisheye is not supported", "is_fisheye"),
    (lambda d: d["frames"][1].update(time=0.5), "no time while 1 others do", "frames[0].time"),
    (lambda d: d.update(aabb_scale=-1), "not positive numbers", "aabb_scale"),
])
def test_bad_fields(tmp_path, mutate, message, field):
    path = write_transforms(tmp_path, n=3, top=NGP)
    data = json.loads(path.read_text())
    mutate(data)
    path.write_text(json.dumps({k: v for k, v in data.items() if v is not None}))
    with pytest.raises(InputError, match=message) as err:
        load_transforms(path)
    assert (err.value.file, err.value.field) == (path, field)
    assert err.value.fix, "every error says what to do"


def test_missing_images_error_or_are_skipped_with_one_warning(tmp_path):
    path = write_transforms(tmp_path, n=5, top=NGP)
    for i in (1, 3):
        (tmp_path / f"images/{i:04d}.png").unlink()
    first = r"first: frames\[1\] \(\./images/0001"
    with pytest.raises(InputError, match=r"2 frames have a missing image .* " + first):
        load_transforms(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = load_transforms(path, LoadOptions(skip_missing=True)).frames
    assert [f.image_path.stem for f in frames] == ["0000", "0002", "0004"]
    assert len(caught) == 1 and "skipping 2 frames" in str(caught[0].message)
    for i in (0, 2, 4):
        (tmp_path / f"images/{i:04d}.png").unlink()
    with pytest.raises(InputError, match="no frame has its image"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        load_transforms(path, LoadOptions(skip_missing=True))


# --- real data (skipped when ../shared/data is absent) ----------------------------------------------------

def centre_visible(capture) -> float:
    """The fraction of frames that see the world origin (the scene centre of both real captures)."""
    seen = [(d > 0) and 0 <= uv[0] < f.camera.width and 0 <= uv[1] < f.camera.height
            for f in capture.frames for uv, d in [project(f.camera, np.zeros(3))]]
    return float(np.mean(seen))


def test_real_fox(shared_data):
    capture = load_transforms(shared_data / "fox")
    assert len(capture.frames) == 50 and [len(capture.split(s)) for s in ("train", "val")] == [43, 7]
    assert {(f.camera.width, f.camera.height) for f in capture.frames} == {(1080, 1920)}
    assert capture.frames[0].distortion == (0.0578421, -0.0805099, -0.000980296, 0.00015575)
    assert capture.up == (0.0, 0.0, 1.0)
    np.testing.assert_allclose(capture.scene_box[1], [2 / 0.33] * 3)
    assert centre_visible(capture) > 0.9


def test_real_lego400(shared_data):
    capture = load_blender(shared_data / "lego400")
    assert capture.format == "blender" and capture.rgba
    assert [len(capture.split(s)) for s in ("train", "val", "test")] == [100, 100, 0]
    assert {(f.camera.width, f.camera.height) for f in capture.frames} == {(400, 400)}
    assert capture.frames[0].camera.fx == pytest.approx(200 / math.tan(0.6911112070083618 / 2))
    assert centre_visible(capture) > 0.9
