"""COLMAP loader: synthetic models written in text and binary, checked against COLMAP's own pose formula."""

import warnings

import imageio.v3 as iio
import numpy as np
import pytest

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.captures.capture import LoadOptions
from ngfx.scenes.captures.colmap import load_colmap
from ngfx.scenes.captures.colmap_io import ColmapCamera, ColmapImage, read_model, write_model
from ngfx.scenes.transforms import quat_from_matrix

W, H = 8, 6
N_IMAGES = 10
PARAMS = {"SIMPLE_PINHOLE": (6.0, 4.0, 3.0), "PINHOLE": (6.0, 6.5, 4.1, 2.9),
          "SIMPLE_RADIAL": (6.0, 4.0, 3.0, 0.01), "RADIAL": (6.0, 4.0, 3.0, 0.01, -0.02),
          "OPENCV": (6.0, 6.5, 4.1, 2.9, 0.01, -0.02, 0.003, -0.004)}


def colmap_rotation(q) -> np.ndarray:
    """R(q) for COLMAP's (qw, qx, qy, qz), written out as in COLMAP's docs (independent of ngfx)."""
    w, x, y, z = np.asarray(q) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def colmap_project(image: ColmapImage, camera: ColmapCamera, xyz: np.ndarray):
    """(pixels [P, 2], depth [P]) by X_cam = R(q) X + t and COLMAP's pinhole parameters (no distortion)."""
    X = xyz @ colmap_rotation(image.qvec).T + np.asarray(image.tvec)
    p = camera.params
    fx, fy, cx, cy = (p[0], p[0], p[1], p[2]) if camera.model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL",
                                                                  "RADIAL") else p[:4]
    return np.stack([fx * X[:, 0] / X[:, 2] + cx, fy * X[:, 1] / X[:, 2] + cy], axis=1), X[:, 2]


def make_scene(root, *, binary=True, model="PINHOLE", where="sparse/0", n=N_IMAGES, seed=0):
    """Cameras on a circle (world up +z) looking at a point cloud; 8x6 images in root/images."""
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(-0.5, 0.5, size=(40, 3))
    rgb = rng.integers(0, 256, size=(40, 3), dtype=np.uint8)
    cameras = [ColmapCamera(3, model, W, H, PARAMS[model])]  # ids need not start at 1
    images = []
    for k in range(n):
        angle = 2 * np.pi * k / n
        eye = (4 * np.cos(angle), 4 * np.sin(angle), 1.0)
        T = Camera.look_at(eye, (0, 0, 0), up=(0, 0, 1), width=W, height=H).T_camera_world
        name = f"img_{n - k:03d}.png"  # names sort against the id order
        im = ColmapImage(100 + k, tuple(quat_from_matrix(T[:3, :3])), tuple(T[:3, 3]), 3, name)
        pixels, _ = colmap_project(im, cameras[0], xyz)  # keypoints, written and skipped by the reader
        points2d = np.concatenate([pixels, np.arange(1, len(xyz) + 1)[:, None]], axis=1)
        images.append(ColmapImage(im.id, im.qvec, im.tvec, 3, im.name, points2d))
    tracks = [np.array([[100, i], [101, i]]) for i in range(len(xyz))]
    write_model(root / where, cameras, images, xyz, rgb, binary=binary, tracks=tracks)
    (root / "images").mkdir(exist_ok=True)
    for im in images:
        iio.imwrite(root / "images" / im.name, np.full((H, W, 3), 128, np.uint8))
    return cameras, images, xyz, rgb


@pytest.mark.parametrize("binary", [True, False])
def test_projection_matches_colmap(tmp_path, binary):
    cameras, images, xyz, rgb = make_scene(tmp_path, binary=binary)
    capture = load_colmap(tmp_path, LoadOptions())
    assert capture.format == "colmap" and len(capture.frames) == N_IMAGES
    np.testing.assert_allclose(capture.points, xyz, atol=1e-12)
    np.testing.assert_array_equal(capture.point_colors, rgb)
    assert capture.point_colors.dtype == np.uint8
    by_name = {im.name: im for im in images}
    inside = []
    for frame in capture.frames:
        im, cam = by_name[frame.image_path.name], frame.camera
        assert frame.image_path == tmp_path / "images" / im.name and frame.camera_id == "3"
        expected, depth = colmap_project(im, cameras[0], xyz)
        X = xyz @ cam.T_camera_world[:3, :3].T + cam.T_camera_world[:3, 3]
        assert (X[:, 2] > 0).all(), f"{im.name}: points behind the camera"
        np.testing.assert_allclose(X[:, 2], depth, atol=1e-9, err_msg=im.name)
        pixels = (X @ cam.K.T)[:, :2] / X[:, 2:]
        np.testing.assert_allclose(pixels, expected, atol=1e-9, err_msg=im.name)
        np.testing.assert_allclose(pixels, im.points2d[:, :2], atol=1e-9, err_msg=im.name)
        inside.append(((pixels >= 0) & (pixels < (W, H))).all(axis=1).mean())
    assert np.mean(inside) > 0.9


def test_text_and_binary_agree_and_binary_is_preferred(tmp_path):
    make_scene(tmp_path / "a", binary=True)
    make_scene(tmp_path / "a", binary=False)  # same model as text beside it
    make_scene(tmp_path / "b", binary=False)
    a, b = load_colmap(tmp_path / "a", LoadOptions()), load_colmap(tmp_path / "b", LoadOptions())
    for fa, fb in zip(a.frames, b.frames):
        np.testing.assert_allclose(fa.camera.T_camera_world, fb.camera.T_camera_world, atol=1e-12)
        np.testing.assert_allclose(fa.camera.K, fb.camera.K)
    assert read_model(tmp_path / "a" / "sparse" / "0").files["cameras"].suffix == ".bin"
    write_model(tmp_path / "a" / "sparse" / "0", [ColmapCamera(3, "PINHOLE", W, H, (9.0, 9.0, 4.0, 3.0))],
                [], [], [], binary=False)  # a different text model: the binary one still wins
    assert load_colmap(tmp_path / "a", LoadOptions()).frames[0].camera.fx == 6.0


@pytest.mark.parametrize("where", ["sparse/0", "sparse", "."])
def test_model_locations(tmp_path, where):
    make_scene(tmp_path, where=where)
    assert len(load_colmap(tmp_path, LoadOptions()).frames) == N_IMAGES


@pytest.mark.parametrize("model, K, distortion", [
    ("SIMPLE_PINHOLE", (6.0, 6.0, 4.0, 3.0), None),
    ("PINHOLE", (6.0, 6.5, 4.1, 2.9), None),
    ("SIMPLE_RADIAL", (6.0, 6.0, 4.0, 3.0), (0.01, 0.0, 0.0, 0.0)),
    ("RADIAL", (6.0, 6.0, 4.0, 3.0), (0.01, -0.02, 0.0, 0.0)),
    ("OPENCV", (6.0, 6.5, 4.1, 2.9), (0.01, -0.02, 0.003, -0.004)),
])
def test_camera_models(tmp_path, model, K, distortion):
    make_scene(tmp_path, model=model, binary=model != "RADIAL")
    frame = load_colmap(tmp_path, LoadOptions()).frames[0]
    assert (frame.camera.fx, frame.camera.fy, frame.camera.cx, frame.camera.cy) == K
    assert frame.distortion == distortion  # OpenCV order (k1, k2, p1, p2)


def test_images_n_scales_k(tmp_path):
    make_scene(tmp_path, model="PINHOLE")
    (tmp_path / "images_2").mkdir()
    for path in (tmp_path / "images").iterdir():
        iio.imwrite(tmp_path / "images_2" / path.name, np.zeros((H // 2, W // 2, 3), np.uint8))
    full = load_colmap(tmp_path, LoadOptions()).frames[0]
    half = load_colmap(tmp_path, LoadOptions(downscale=2)).frames[0]
    assert half.image_path.parent.name == "images_2"
    assert (half.camera.width, half.camera.height) == (W // 2, H // 2)
    np.testing.assert_allclose(half.camera.K[:2], full.camera.K[:2] / 2)
    np.testing.assert_array_equal(half.camera.T_camera_world, full.camera.T_camera_world)
    no_folder = load_colmap(tmp_path, LoadOptions(downscale=4)).frames[0]  # no images_4/: full-size K
    assert no_folder.image_path.parent.name == "images" and no_folder.camera.fx == full.camera.fx


def test_images_n_of_the_wrong_size(tmp_path):
    make_scene(tmp_path)
    (tmp_path / "images_2").mkdir()
    for path in (tmp_path / "images").iterdir():
        iio.imwrite(tmp_path / "images_2" / path.name, np.zeros((H // 2, W, 3), np.uint8))
    with pytest.raises(InputError, match="images_2.*8x3"):
        load_colmap(tmp_path, LoadOptions(downscale=2))


def test_up_and_splits(tmp_path):
    make_scene(tmp_path)
    capture = load_colmap(tmp_path, LoadOptions())
    np.testing.assert_allclose(capture.up, (0, 0, 1), atol=1e-9)  # tilts cancel around the circle
    names = [f.image_path.name for f in capture.frames]
    assert names == sorted(names)
    assert [f.split for f in capture.frames] == ["val"] + ["train"] * 7 + ["val", "train"]
    every3 = load_colmap(tmp_path, LoadOptions(split="every:3"))
    assert [k for k, f in enumerate(every3.frames) if f.split == "val"] == [0, 3, 6, 9]
    named = load_colmap(tmp_path, LoadOptions(split="cameras:img_002,img_005.png"))
    assert [f.image_path.name for f in named.split("val")] == ["img_002.png", "img_005.png"]
    for bad in ("cameras:nope", "every:1", "sometimes"):
        with pytest.raises(InputError, match="split"):
            load_colmap(tmp_path, LoadOptions(split=bad))


def test_missing_images_counted_or_skipped(tmp_path):
    make_scene(tmp_path)
    (tmp_path / "images" / "img_003.png").unlink()
    (tmp_path / "images" / "img_007.png").unlink()
    with pytest.raises(InputError, match="2 of 10 images.*first is 'img_003.png'") as err:
        load_colmap(tmp_path, LoadOptions())
    assert "\n" not in str(err.value) and "skip-missing" in str(err.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        capture = load_colmap(tmp_path, LoadOptions(skip_missing=True))
    assert len(capture.frames) == 8 and len(caught) == 1 and "skipped 2 of 10" in str(caught[0].message)


@pytest.mark.parametrize("stem", ["cameras", "images", "points3D"])
def test_truncated_binary(tmp_path, stem):
    make_scene(tmp_path)
    path = tmp_path / "sparse" / "0" / f"{stem}.bin"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(InputError, match=f"{stem}.bin.*truncated"):
        load_colmap(tmp_path, LoadOptions())


@pytest.mark.parametrize("binary", [True, False])
def test_unsupported_camera_model(tmp_path, binary):
    _, images, xyz, rgb = make_scene(tmp_path, binary=binary)
    fisheye = ColmapCamera(3, "OPENCV_FISHEYE", W, H, (6.0, 6.0, 4.0, 3.0, 0.1, 0.0, 0.0, 0.0))
    write_model(tmp_path / "sparse" / "0", [fisheye], images, xyz, rgb, binary=binary)
    with pytest.raises(InputError, match=r"cameras\.(bin|txt).*OPENCV_FISHEYE.*image_undistorter"):
        load_colmap(tmp_path, LoadOptions())


def test_unknown_model_id_and_name(tmp_path):
    make_scene(tmp_path)
    path = tmp_path / "sparse" / "0" / "cameras.bin"
    data = bytearray(path.read_bytes())
    data[12:16] = (42).to_bytes(4, "little")  # after u64 count and i32 camera id
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="cameras.bin.*unknown model id 42"):
        load_colmap(tmp_path, LoadOptions())
    make_scene(tmp_path / "t", binary=False)
    text = tmp_path / "t" / "sparse" / "0" / "cameras.txt"
    text.write_text(text.read_text().replace("PINHOLE", "WOBBLY"))
    with pytest.raises(InputError, match="WOBBLY"):
        load_colmap(tmp_path / "t", LoadOptions())


def test_missing_files(tmp_path):
    with pytest.raises(InputError, match="no COLMAP model found"):
        load_colmap(tmp_path, LoadOptions())
    make_scene(tmp_path)
    (tmp_path / "sparse" / "0" / "points3D.bin").unlink()
    assert load_colmap(tmp_path, LoadOptions()).points.shape == (0, 3)  # points3D is optional
    for path in (tmp_path / "images").iterdir():
        path.unlink()
    (tmp_path / "images").rmdir()
    with pytest.raises(InputError, match="images.*missing.*images/"):
        load_colmap(tmp_path, LoadOptions())


def test_bad_pose_and_camera_reference(tmp_path):
    make_scene(tmp_path, binary=False)
    path = tmp_path / "sparse" / "0" / "images.txt"
    lines = path.read_text().splitlines()
    words = lines[3].split()
    lines[3] = " ".join([words[0], "nan", *words[2:]])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=f"images.txt.*'{words[9]}'.*non-finite"):
        load_colmap(tmp_path, LoadOptions())
    lines[3] = " ".join([*words[:8], "77", words[9]])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="camera 77, which is not in the model"):
        load_colmap(tmp_path, LoadOptions())
    lines[3] = " ".join(words[:5])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="images.txt.*line 4"):
        load_colmap(tmp_path, LoadOptions())


def test_bad_intrinsics_name_the_cameras_file(tmp_path):
    _, images, xyz, rgb = make_scene(tmp_path)
    bad = ColmapCamera(3, "PINHOLE", W, H, (-1.0, 6.0, 4.0, 3.0))
    write_model(tmp_path / "sparse" / "0", [bad], images, xyz, rgb, binary=True)
    with pytest.raises(InputError, match="cameras.bin.*camera 3.*focal length"):
        load_colmap(tmp_path, LoadOptions())
