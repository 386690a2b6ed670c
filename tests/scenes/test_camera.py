"""Camera conventions: OpenGL round trips, the +0.5 pixel centre, resizing, look_at, and bad cameras."""

import numpy as np
import pytest

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera, intrinsics_from_fov
from ngfx.scenes.transforms import quat_to_matrix

SEEDS = [0, 1, 2, 3, 4]


def random_pose(seed: int) -> np.ndarray:
    """A random rigid 4x4 (rotation from a normalised Gaussian quaternion, translation in [-5, 5])."""
    rng = np.random.default_rng(seed)
    T = np.eye(4)
    T[:3, :3] = quat_to_matrix(rng.normal(size=4))
    T[:3, 3] = rng.uniform(-5, 5, size=3)
    return T


@pytest.mark.parametrize("seed", SEEDS)
def test_opengl_round_trip(seed):
    T_world_camera_gl = random_pose(seed)
    camera = Camera.from_opengl(T_world_camera_gl, 64, 48, fov_y_deg=50.0)
    np.testing.assert_allclose(camera.to_opengl(), T_world_camera_gl, atol=1e-12, err_msg=f"seed {seed}")
    assert camera.fov_y_deg == pytest.approx(50.0)
    # An OpenGL camera looks down its -z: a point there is in front of the OpenCV camera (z > 0), centred.
    ahead = T_world_camera_gl @ np.array([0.0, 0.0, -3.0, 1.0])
    p_camera = camera.T_camera_world @ ahead
    np.testing.assert_allclose(p_camera[:3], [0.0, 0.0, 3.0], atol=1e-12, err_msg=f"seed {seed}")
    # OpenGL +y (up) is OpenCV -y (image rows grow downwards).
    above = T_world_camera_gl @ np.array([0.0, 1.0, -3.0, 1.0])
    assert (camera.T_camera_world @ above)[1] == pytest.approx(-1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_pixel_centre_projects_to_half_offsets(seed):
    rng = np.random.default_rng(seed)
    width, height = 40, 30
    K = np.array([[55.0, 0, 21.3], [0, 61.0, 14.2], [0, 0, 1]])  # off-centre principal point, fx != fy
    camera = Camera(K=K, width=width, height=height, T_camera_world=random_pose(seed + 100))
    i, j = int(rng.integers(width)), int(rng.integers(height))
    depth = rng.uniform(1, 10)
    ray = np.array([(i + 0.5 - K[0, 2]) / K[0, 0], (j + 0.5 - K[1, 2]) / K[1, 1], 1.0])
    X_world = camera.T_world_camera @ np.append(depth * ray, 1.0)
    p = K @ (camera.T_camera_world @ X_world)[:3]
    uv = p[:2] / p[2]
    np.testing.assert_allclose(uv, [i + 0.5, j + 0.5], atol=1e-9, err_msg=f"seed {seed}")
    assert (int(np.floor(uv[0])), int(np.floor(uv[1]))) == (i, j)
    # Resizing by 2 scales K exactly under the +0.5 convention: the same point lands at 2 * (i + 0.5).
    big = camera.resized(2 * width, 2 * height)
    p2 = big.K @ (big.T_camera_world @ X_world)[:3]
    np.testing.assert_allclose(p2[:2] / p2[2], [2 * i + 1, 2 * j + 1], atol=1e-9)


def test_intrinsics_from_fov_centre_and_focal():
    K = intrinsics_from_fov(200, 100, fov_y_deg=90.0)
    np.testing.assert_allclose(K, [[50, 0, 100], [0, 50, 50], [0, 0, 1]], atol=1e-12)
    K = intrinsics_from_fov(200, 100, fov_x_rad=np.pi / 2)
    assert K[0, 0] == pytest.approx(100.0)


def test_look_at_centres_target_and_keeps_up_up():
    camera = Camera.look_at(eye=(3.0, 2.0, 5.0), target=(0.0, 0.5, 0.0), up=(0, 1, 0), width=64, height=48)
    p = camera.K @ (camera.T_camera_world @ [0.0, 0.5, 0.0, 1.0])[:3]
    np.testing.assert_allclose(p[:2] / p[2], [32.0, 24.0], atol=1e-9)
    q = camera.K @ (camera.T_camera_world @ [0.0, 1.5, 0.0, 1.0])[:3]
    assert q[1] / q[2] < 24.0  # a point above the target is drawn higher up (smaller row)
    np.testing.assert_allclose(camera.position, [3.0, 2.0, 5.0], atol=1e-12)


@pytest.mark.parametrize("K, width, height, needle", [
    ([[0.0, 0, 10], [0, 50, 10], [0, 0, 1]], 20, 20, "focal length"),
    ([[50.0, 0, 10], [0, -5, 10], [0, 0, 1]], 20, 20, "focal length"),
    ([[50.0, 0, 10], [0, 50, 10], [0, 0, 1]], 0, 20, "not positive"),
    ([[50.0, 0, 10], [0, 50, 10], [0, 0, 1]], 20, -3, "not positive"),
])
def test_bad_cameras_raise_input_error(K, width, height, needle):
    with pytest.raises(InputError, match=needle):
        Camera(K=K, width=width, height=height, T_camera_world=np.eye(4))


def test_camera_dict_round_trip_and_missing_key():
    camera = Camera.look_at((1, 2, 3), (0, 0, 0), width=32, height=24, name="main", time=0.5)
    again = Camera.from_dict(camera.to_dict())
    np.testing.assert_allclose(again.K, camera.K)
    np.testing.assert_allclose(again.T_camera_world, camera.T_camera_world)
    assert (again.name, again.time, again.width) == ("main", 0.5, 32)
    d = camera.to_dict()
    del d["K"]
    with pytest.raises(InputError, match="cameras.K"):
        Camera.from_dict(d, file="scene.json")
