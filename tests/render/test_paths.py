"""Camera paths: ring paths look at their centre and loop; keyframe splines hit keys and stay smooth."""

import itertools
import math

import numpy as np
import pytest

from ngfx.errors import InputError
from ngfx.render import paths
from ngfx.scenes.camera import Camera

W, H = 64, 48


def _project(camera: Camera, point) -> np.ndarray:
    p_camera = (camera.T_camera_world @ np.append(point, 1.0))[:3]
    assert p_camera[2] > 0, "point is behind the camera"
    uv = camera.K @ p_camera
    return uv[:2] / uv[2]


def _rotation_angle_deg(R_a: np.ndarray, R_b: np.ndarray) -> float:
    return math.degrees(math.acos(np.clip((np.trace(R_a.T @ R_b) - 1) / 2, -1.0, 1.0)))


def _random_rotation(rng) -> np.ndarray:
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return Q * np.sign(np.linalg.det(Q))


@pytest.mark.parametrize("up", [(0, 1, 0), (0, 0, 1), (1, 1, 0)])
def test_orbit_looks_at_center_at_radius_and_loops(up):
    center, radius, frames = np.array([1.0, -2.0, 0.5]), 3.5, 12
    cameras = paths.orbit(center, radius, frames=frames, up=up, elevation_deg=30, width=W, height=H)
    assert len(cameras) == frames
    up = np.asarray(up, float) / np.linalg.norm(up)
    for cam in cameras:
        np.testing.assert_allclose(_project(cam, center), [W / 2, H / 2], atol=1e-9)
        np.testing.assert_allclose(np.linalg.norm(cam.position - center), radius, rtol=1e-12)
        elevation = math.degrees(math.asin((cam.position - center) @ up / radius))
        assert elevation == pytest.approx(30.0, abs=1e-9)
        assert cam.T_world_camera[:3, 1] @ up < 0, "image down (+y) must point against world up"
        assert cam.time is None
    # a loop: every step, including last -> first, turns by the same angle, so no frame is repeated
    offsets = [cam.position - center for cam in cameras]
    steps = [_angle_between(offsets[k], offsets[(k + 1) % frames], up) for k in range(frames)]
    np.testing.assert_allclose(steps, 360.0 / frames, atol=1e-9)


def _angle_between(a, b, up) -> float:
    a, b = a - up * (a @ up), b - up * (b @ up)
    return math.degrees(math.atan2(np.cross(a, b) @ up, a @ b))


def test_orbit_azimuth_zero_and_direction():
    cameras = paths.orbit((0, 0, 0), 2.0, frames=4, elevation_deg=0, width=W, height=H)
    np.testing.assert_allclose(cameras[0].position, [0, 0, 2], atol=1e-12)
    np.testing.assert_allclose(cameras[1].position, [2, 0, 0], atol=1e-12)  # right-handed about +y


def test_spiral_height_moves_sinusoidally():
    center, radius, span, frames = np.zeros(3), 2.0, 1.0, 16
    cameras = paths.spiral(center, radius, frames=frames, up=(0, 0, 1), height_span=span, turns=2,
                           width=W, height=H)
    heights = np.array([cam.position[2] for cam in cameras])
    expected = 0.5 * span * np.sin(2 * np.pi * np.arange(frames) / frames)
    np.testing.assert_allclose(heights, expected, atol=1e-12)
    horizontal = np.array([np.linalg.norm(cam.position[:2]) for cam in cameras])
    np.testing.assert_allclose(horizontal, radius, rtol=1e-12)
    for cam in cameras:
        np.testing.assert_allclose(_project(cam, center), [W / 2, H / 2], atol=1e-9)


@pytest.mark.parametrize("width,height", [(64, 48), (48, 64)])
def test_orbit_for_bounds_keeps_the_box_in_view_tightly(width, height):
    lo, hi = np.array([-1.0, 0.0, 2.0]), np.array([3.0, 1.0, 4.0])
    cameras = paths.orbit_for_bounds(lo, hi, frames=6, width=width, height=height, fov_y_deg=50, margin=1.0)
    center, sphere_radius = (lo + hi) / 2, np.linalg.norm(hi - lo) / 2
    half_fov = min(math.radians(25), math.atan(math.tan(math.radians(25)) * width / height))
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    distance = np.linalg.norm(cameras[0].position - center)
    assert distance <= sphere_radius / math.sin(half_fov) * (1 + 1e-9), "never further than the sphere fit"
    for cam in cameras:
        assert np.linalg.norm(cam.position - center) == pytest.approx(distance)
        for corner in corners:
            u, v = _project(cam, corner)
            assert 0 <= u <= width and 0 <= v <= height
            depth = (cam.T_camera_world @ np.append(corner, 1))[2]
            assert cam.near < depth < cam.far
    closer = paths.orbit(center, 0.95 * distance, frames=36, width=width, height=height, fov_y_deg=50)
    outside = [not (0 <= u <= width and 0 <= v <= height) for cam in closer for u, v in
               (_project(cam, c) for c in corners)]
    assert any(outside), "5% closer still fits: the fit is not tight"


def test_ring_paths_reject_bad_input():
    with pytest.raises(InputError) as err:
        paths.orbit((0, 0, 0), 1.0, frames=0, width=W, height=H)
    assert err.value.field == "frames"
    with pytest.raises(InputError, match="radius"):
        paths.orbit((0, 0, 0), -1.0, frames=4, width=W, height=H)
    with pytest.raises(InputError, match="up"):
        paths.orbit((0, 0, 0), 1.0, frames=4, up=(0, 0, 0), width=W, height=H)
    with pytest.raises(InputError, match="center"):
        paths.orbit((0, np.nan, 0), 1.0, frames=4, width=W, height=H)
    with pytest.raises(InputError) as err:
        paths.orbit_for_bounds((1, 1, 1), (0, 2, 2), frames=4, width=W, height=H)
    assert err.value.field == "bounds_max"


def _keyframes(rng, count: int, *, timed: bool = True) -> list[Camera]:
    return [Camera.look_at(rng.normal(size=3) * 3 + [0, 0, 6], rng.normal(size=3) * 0.3, width=W, height=H,
                           fov_y_deg=30 + 7 * i, near=0.1 + i, far=50 + i,
                           time=float(i) * 0.5 if timed else None)
            for i in range(count)]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("loop", [False, True])
def test_interpolate_hits_keyframes_exactly(seed, loop):
    keys, per_segment = _keyframes(np.random.default_rng(seed), 5), 4
    frames = per_segment * len(keys) + (0 if loop else 1 - per_segment)
    cameras = paths.interpolate(keys, frames=frames, loop=loop)
    assert len(cameras) == frames
    for i, key in enumerate(keys):
        cam = cameras[i * per_segment]
        np.testing.assert_allclose(cam.T_camera_world, key.T_camera_world, atol=1e-9,
                                   err_msg=f"seed {seed} key {i}")
        np.testing.assert_allclose(cam.K, key.K, atol=1e-9)
        assert (cam.near, cam.far, cam.time) == pytest.approx((key.near, key.far, key.time), abs=1e-12)
    if not loop:
        np.testing.assert_allclose(cameras[-1].T_camera_world, keys[-1].T_camera_world, atol=1e-9)
    else:  # no duplicate of the start: the last frame lies between the last keyframe and the first
        assert np.linalg.norm(cameras[-1].position - keys[0].position) > 1e-3


def test_interpolate_nonuniform_knots_and_no_time():
    keys = _keyframes(np.random.default_rng(3), 3, timed=False)
    cameras = paths.interpolate(keys, frames=7, times=[0.0, 1.0, 3.0])  # samples every 0.5
    np.testing.assert_allclose(cameras[2].T_camera_world, keys[1].T_camera_world, atol=1e-9)
    np.testing.assert_allclose(cameras[6].T_camera_world, keys[2].T_camera_world, atol=1e-9)
    assert all(cam.time is None for cam in cameras)


@pytest.mark.parametrize("seed", range(12))
def test_interpolate_takes_the_short_rotation(seed):
    """Two keyframes: the swept angle equals the geodesic angle (a quaternion flip sweeps 360 minus it)."""
    rng = np.random.default_rng(seed)
    keys = []
    for _ in range(2):
        T_world_camera = np.eye(4)
        T_world_camera[:3, :3], T_world_camera[:3, 3] = _random_rotation(rng), rng.normal(size=3)
        keys.append(Camera(K=np.diag([50.0, 50.0, 1.0]), width=W, height=H,
                           T_camera_world=np.linalg.inv(T_world_camera)))
    cameras = paths.interpolate(keys, frames=41)
    rotations = [cam.T_world_camera[:3, :3] for cam in cameras]
    swept = sum(_rotation_angle_deg(a, b) for a, b in itertools.pairwise(rotations))
    geodesic = _rotation_angle_deg(rotations[0], rotations[-1])
    assert swept == pytest.approx(geodesic, rel=1e-3), f"seed {seed}"


def test_interpolate_is_smooth_through_keyframes():
    """Around each inner keyframe the steps on either side agree (C1: no kink, no quaternion flip)."""
    azimuths = np.radians([0, 80, 170, 250, 330])  # an orbit-like path: squad's hemisphere handling matters
    keys = [Camera.look_at([4 * math.sin(a), 1 + 0.3 * i, 4 * math.cos(a)], [0, 0, 0], width=W, height=H)
            for i, a in enumerate(azimuths)]
    m = 40
    cameras = paths.interpolate(keys, frames=m * (len(keys) - 1) + 1, tension=0.0)
    positions = np.array([cam.position for cam in cameras])
    rotations = [cam.T_world_camera[:3, :3] for cam in cameras]
    angle_steps = np.array([_rotation_angle_deg(a, b) for a, b in itertools.pairwise(rotations)])
    assert angle_steps.max() < 3 * angle_steps.mean()
    for k in range(m, len(cameras) - 1, m):
        before, after = positions[k] - positions[k - 1], positions[k + 1] - positions[k]
        assert np.linalg.norm(after - before) < 0.1 * np.linalg.norm(before), f"position kink at frame {k}"
        assert angle_steps[k] == pytest.approx(angle_steps[k - 1], rel=0.1), f"rotation kink at frame {k}"


def test_interpolate_rejects_bad_input():
    rng = np.random.default_rng(4)
    keys = _keyframes(rng, 3)
    with pytest.raises(InputError, match="at least 2"):
        paths.interpolate(keys[:1], frames=5)
    with pytest.raises(InputError) as err:
        paths.interpolate([keys[0], keys[1].resized(32, 24)], frames=5)
    assert err.value.field == "keyframes[1]"
    with pytest.raises(InputError, match="time"):
        paths.interpolate([keys[0], keys[1].replace(time=None)], frames=5)
    with pytest.raises(InputError) as err:
        paths.interpolate(keys, frames=5, times=[0, 1, 2], loop=True)  # a loop needs the return knot too
    assert err.value.field == "times"
    with pytest.raises(InputError):
        paths.interpolate(keys, frames=5, times=[0, 2, 1])
