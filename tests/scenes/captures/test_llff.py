"""LLFF loader: poses_bounds.npy rows built from known OpenCV cameras load back to those cameras."""

import imageio.v3 as iio
import numpy as np
import pytest

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.captures.capture import LoadOptions
from ngfx.scenes.captures.llff import load_llff

W, H, F = 8, 6, 7.0
N_VIEWS = 10


def llff_row(camera: Camera, near: float, far: float) -> np.ndarray:
    """The poses_bounds.npy row of an OpenCV camera, built from the columns' meaning: LLFF's rotation columns
    are the camera's down, right and back axes in world coordinates (OpenCV: +y, +x, -z)."""
    T_world_camera = np.linalg.inv(camera.T_camera_world)
    right, down, forward = T_world_camera[:3, 0], T_world_camera[:3, 1], T_world_camera[:3, 2]
    hwf = (camera.height, camera.width, camera.fx)
    pose = np.stack([down, right, -forward, T_world_camera[:3, 3], hwf], axis=1)
    return np.concatenate([pose.ravel(), [near, far]])


def make_scene(root, n=N_VIEWS, *, folder="images", size=(W, H)):
    """A forward-facing rig (world up +y) looking at the origin, poses_bounds.npy and n images of `size`."""
    cameras = [Camera.look_at((0.3 * k - 1.5, 0.1 * (k % 3), 4.0), (0, 0, 0), up=(0, 1, 0), width=W, height=H)
               for k in range(n)]
    cameras = [c.replace(K=np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1]])) for c in cameras]
    rows = np.stack([llff_row(c, 1.5 + 0.1 * k, 6.0 + k) for k, c in enumerate(cameras)])
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / "poses_bounds.npy", rows)
    write_images(root / folder, n, size)
    return cameras, rows


def write_images(folder, n, size):
    folder.mkdir(exist_ok=True)
    for k in range(n):
        iio.imwrite(folder / f"IMG_{k:04d}.JPG", np.full((size[1], size[0], 3), 90, np.uint8))


def test_known_opencv_cameras_load_back(tmp_path):
    cameras, rows = make_scene(tmp_path)
    capture = load_llff(tmp_path, LoadOptions())
    assert capture.format == "llff" and len(capture.frames) == N_VIEWS and capture.points is None
    for k, (frame, expected) in enumerate(zip(capture.frames, cameras)):
        cam = frame.camera
        assert frame.image_path == tmp_path / "images" / f"IMG_{k:04d}.JPG"
        np.testing.assert_allclose(cam.T_camera_world, expected.T_camera_world, atol=1e-12, err_msg=str(k))
        np.testing.assert_allclose(cam.K, expected.K)
        assert (cam.width, cam.height, cam.near, cam.far) == (W, H, rows[k, 15], rows[k, 16])
        target = cam.T_camera_world @ [0, 0, 0, 1]  # the origin they look at: in front, at the centre pixel
        assert target[2] > 0
        np.testing.assert_allclose((cam.K @ target[:3])[:2] / target[2], (W / 2, H / 2), atol=1e-9)
    np.testing.assert_allclose(capture.up, (0, 1, 0), atol=0.05)
    assert [k for k, f in enumerate(capture.frames) if f.split == "val"] == [0, 8]


def test_images_n_divides_focal(tmp_path):
    make_scene(tmp_path)
    write_images(tmp_path / "images_2", N_VIEWS, (W // 2, H // 2))
    full = load_llff(tmp_path, LoadOptions()).frames[3].camera
    frame = load_llff(tmp_path, LoadOptions(downscale=2)).frames[3]
    assert frame.image_path.parent.name == "images_2"
    assert (frame.camera.width, frame.camera.height) == (W // 2, H // 2)
    np.testing.assert_allclose(frame.camera.K[:2], full.K[:2] / 2)
    assert frame.camera.fx == F / 2
    np.testing.assert_array_equal(frame.camera.T_camera_world, full.T_camera_world)


def test_images_of_another_aspect_are_refused(tmp_path):
    make_scene(tmp_path, size=(W, W))
    with pytest.raises(InputError, match="IMG_0000.JPG.*8x8"):
        load_llff(tmp_path, LoadOptions())


def test_image_count_mismatch(tmp_path):
    make_scene(tmp_path)
    (tmp_path / "images" / "IMG_0004.JPG").unlink()
    with pytest.raises(InputError, match="poses_bounds.npy.*10 poses but 9 images in images/"):
        load_llff(tmp_path, LoadOptions())


def test_missing_files(tmp_path):
    with pytest.raises(InputError, match="poses_bounds.npy.*missing"):
        load_llff(tmp_path, LoadOptions())
    make_scene(tmp_path, folder="pictures")
    with pytest.raises(InputError, match="images.*missing.*poses_bounds.npy"):
        load_llff(tmp_path, LoadOptions())
    (tmp_path / "poses_bounds.npy").write_bytes(b"not numpy")
    with pytest.raises(InputError, match="not a readable .npy"):
        load_llff(tmp_path, LoadOptions())


@pytest.mark.parametrize("shape", [(10, 15), (17,), (0, 17)])
def test_wrong_shape(tmp_path, shape):
    make_scene(tmp_path)
    np.save(tmp_path / "poses_bounds.npy", np.ones(shape))
    with pytest.raises(InputError, match=r"field 'shape'.*\[N, 17\]"):
        load_llff(tmp_path, LoadOptions())


@pytest.mark.parametrize("column, value, message", [
    (3, np.nan, r"rows\[2\].*NaN"),  # a translation
    (15, 9.0, r"rows\[2\].*near < far"),  # near beyond far
    (0, 5.0, r"rows\[2\].*not a rotation"),  # a scaled axis
])
def test_bad_rows(tmp_path, column, value, message):
    _, rows = make_scene(tmp_path)
    rows[2, 15:] = (1.0, 8.0)
    rows[2, column] = value
    np.save(tmp_path / "poses_bounds.npy", rows)
    with pytest.raises(InputError, match=message) as err:
        load_llff(tmp_path, LoadOptions())
    assert "\n" not in str(err.value)
