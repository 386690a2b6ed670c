"""Viewer input, playback and adaptive-resolution logic, without a display (ngfx.viewer.controls / state)."""

import math

import numpy as np
import pytest

from ngfx.scenes.camera import Camera
from ngfx.viewer import AdaptiveResolution, CameraController, ViewerState

W, H = 160, 120


def project(camera: Camera, point) -> np.ndarray:
    """Pixel coordinates (x right, y down, centres at +0.5) of a world point."""
    p = camera.T_camera_world @ np.append(np.asarray(point, dtype=np.float64), 1.0)
    assert p[2] > 0, "point is behind the camera"
    return np.array([camera.fx * p[0] / p[2] + camera.cx, camera.fy * p[1] / p[2] + camera.cy])


def axes(camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World (right, down, forward) of a camera."""
    R = camera.T_world_camera[:3, :3]
    return R[:, 0], R[:, 1], R[:, 2]


@pytest.fixture
def start() -> Camera:
    return Camera.look_at((1.0, 1.0, 4.0), (0.2, 0.1, 0.0), width=W, height=H, fov_y_deg=50.0)


@pytest.fixture
def ctl(start) -> CameraController:
    return CameraController.from_camera(start, center=(0.2, 0.1, 0.0))


def test_from_camera_is_exact_until_input(start, ctl):
    assert ctl.camera(W, H) is start
    np.testing.assert_allclose(ctl.target, [0.2, 0.1, 0.0], atol=1e-12)
    ctl.drag(0.0, 0.0)  # switches to the orbit rig: the view must not jump
    np.testing.assert_allclose(ctl.camera(W, H).T_camera_world, start.T_camera_world, atol=1e-9)
    np.testing.assert_allclose(ctl.camera(W, H).K, start.K, atol=1e-9)


def test_orbit_keeps_distance_and_looks_at_target(start, ctl):
    distance, yaw, pitch = ctl.distance, ctl.yaw, ctl.pitch
    right, _, _ = axes(start)
    ctl.drag(40.0, 25.0, "left")
    assert ctl.yaw != yaw and ctl.pitch < pitch  # dragging down raises the eye: the view tilts down
    cam = ctl.camera(W, H)
    assert np.linalg.norm(cam.position - ctl.target) == pytest.approx(distance, rel=1e-9)
    np.testing.assert_allclose(project(cam, ctl.target), [W / 2, H / 2], atol=1e-6)
    move = cam.position - start.position
    assert move @ right < 0  # dragging right swings the eye to the left (the scene follows the cursor)
    assert move @ ctl.up > 0


def test_pitch_is_clamped_off_the_poles(ctl):
    for dy in (1e5, -1e5):
        ctl.drag(0.0, dy, "left")
        assert abs(ctl.pitch) == pytest.approx(math.radians(89.0))
        cam = ctl.camera(W, H)
        np.testing.assert_allclose(project(cam, ctl.target), [W / 2, H / 2], atol=1e-6)


@pytest.mark.parametrize("button", ["right", "middle"])
def test_pan_moves_target_with_the_cursor(ctl, button):
    old_target = ctl.target.copy()
    ctl.camera(W, H)
    ctl.drag(12.0, -7.0, button)
    assert np.linalg.norm(ctl.target - old_target) > 0
    # the point that was under the cursor moved with it, pixel for pixel
    np.testing.assert_allclose(project(ctl.camera(W, H), old_target), [W / 2 + 12.0, H / 2 - 7.0], atol=1e-6)


def test_unknown_button_is_ignored(ctl):
    revision = ctl.revision
    ctl.drag(5.0, 5.0, "x1")
    assert ctl.revision == revision


def test_scroll_zooms_multiplicatively(ctl):
    distance = ctl.distance
    ctl.scroll(2)
    assert ctl.distance == pytest.approx(distance * ctl.zoom_step**2)
    ctl.scroll(-2)
    assert ctl.distance == pytest.approx(distance)
    np.testing.assert_allclose(project(ctl.camera(W, H), ctl.target), [W / 2, H / 2], atol=1e-6)


@pytest.mark.parametrize("key, axis, sign", [("w", 2, 1), ("s", 2, -1), ("d", 0, 1), ("a", 0, -1),
                                             ("q", 1, 1), ("e", 1, -1)])
def test_fly_keys_move_along_view_axes(start, ctl, key, axis, sign):
    expected = sign * axes(start)[axis] * ctl.fly_speed * ctl.scale * 0.5
    assert ctl.key_down(key)
    assert ctl.update(0.5)
    np.testing.assert_allclose(ctl.camera(W, H).position - start.position, expected, atol=1e-9)
    ctl.key_up(key)
    assert not ctl.update(0.5)


def test_reset_restores_initial_view(start, ctl):
    ctl.drag(30.0, 10.0, "left")
    ctl.drag(5.0, 5.0, "right")
    ctl.scroll(3)
    ctl.key_down("w")
    ctl.update(1.0)
    assert not np.allclose(ctl.camera(W, H).T_camera_world, start.T_camera_world)
    assert ctl.key_down("r")
    assert ctl.camera(W, H) is start
    assert not ctl.update(1.0)  # reset releases held fly keys


def test_other_window_size_keeps_vertical_fov(ctl, start):
    cam = ctl.camera(2 * W, H)
    assert (cam.width, cam.height) == (2 * W, H)
    assert cam.fov_y_deg == pytest.approx(start.fov_y_deg)
    np.testing.assert_allclose(cam.T_camera_world, start.T_camera_world)


def test_from_camera_without_center_uses_origin_depth(start):
    ctl = CameraController.from_camera(start)
    forward = axes(start)[2]
    assert ctl.distance == pytest.approx(-start.position @ forward)
    np.testing.assert_allclose(ctl.target, start.position + ctl.distance * forward)


def test_from_bounds_frames_the_box():
    lo, hi = np.array([-1.0, 0.0, -2.0]), np.array([3.0, 1.0, 0.5])
    ctl = CameraController.from_bounds(lo, hi, up=(0, 0, 1))
    cam = ctl.camera(W, H)
    for corner in np.array(np.meshgrid(*zip(lo, hi))).reshape(3, -1).T:
        x, y = project(cam, corner)
        assert 0 <= x <= W and 0 <= y <= H, corner
    np.testing.assert_allclose(project(cam, (lo + hi) / 2), [W / 2, H / 2], atol=1e-6)


def test_render_modes_cycle():
    state = ViewerState()
    assert [state.cycle_mode() for _ in range(3)] == ["depth", "alpha", "rgb"]
    assert state.key_down("m") and state.mode == "depth"


def test_play_pause_and_time_wrap():
    state = ViewerState(duration_s=2.0, time=1.5, playing=True)
    assert state.advance(1.0) and state.time == pytest.approx(0.5)
    assert state.key_down("space") and not state.playing
    assert not state.advance(1.0) and state.time == pytest.approx(0.5)
    assert state.set_time(5.0) and state.time == 2.0
    static = ViewerState(playing=True)
    static.toggle_play()
    assert not static.playing and not static.advance(1.0)


def test_screenshot_request_is_taken_once():
    state = ViewerState()
    assert state.key_down("p") and not state.key_down("x")
    assert state.take_screenshot_request() and not state.take_screenshot_request()


def test_moving_has_hysteresis():
    state = ViewerState(settle_s=0.25)
    assert not state.note_motion(False, 0.1)
    assert state.note_motion(True, 0.1)
    assert state.note_motion(False, 0.1) and state.note_motion(False, 0.1)
    assert not state.note_motion(False, 0.1)


def test_adaptive_resolution_budget_and_hysteresis():
    adaptive = AdaptiveResolution(target_fps=30.0, smoothing=1.0)
    assert adaptive.size(640, 480, moving=True) == (640, 480)  # nothing measured yet
    adaptive.record(640 * 480, 1.0)  # 307200 px/s: a 10240 px budget at 30 FPS
    w, h = adaptive.size(640, 480, moving=True)
    assert (w, h) == (117, 88) and w * h == pytest.approx(10240, rel=0.01)
    assert adaptive.size(640, 480, moving=False) == (640, 480)  # still: full resolution
    adaptive.record(int(640 * 480 * 1.1), 1.0)  # +10% throughput: inside the hysteresis band
    assert adaptive.size(640, 480, moving=True) == (w, h)
    adaptive.record(int(640 * 480 * 0.9), 1.0)  # -10%: still inside
    assert adaptive.size(640, 480, moving=True) == (w, h)
    adaptive.record(640 * 480 * 16, 1.0)  # 16x faster: the budget grows 16-fold
    w2, h2 = adaptive.size(640, 480, moving=True)
    assert w2 * h2 == pytest.approx(10240 * 16, rel=0.01)


def test_adaptive_resolution_short_side_floor():
    adaptive = AdaptiveResolution(min_side=64)
    adaptive.record(1000, 1.0)  # far too slow for 30 FPS
    assert adaptive.size(640, 480, moving=True) == (85, 64)
    assert adaptive.size(40, 30, moving=True) == (40, 30)  # never above the window's own size
    adaptive.record(10**12, 1.0)
    assert adaptive.size(640, 480, moving=True) == (640, 480)
