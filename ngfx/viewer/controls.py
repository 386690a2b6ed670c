"""Camera input for the viewer: orbit, pan, zoom and fly, driven by plain events (no pyglet here).

The controller holds an orbit rig around a `target` point: the eye sits at `distance` from it, with the view
direction given by `yaw` and `pitch` (radians) about the world `up` axis. It produces a `ngfx.scenes.Camera`
(OpenCV frame, see `ngfx.scenes.camera`) for any window size with the vertical field of view `fov_y_deg`.

Event conventions (the window translates its own events into these):
- `drag(dx, dy, button)`: pixels, +x right and +y **down** (image axes); "left" orbits, "right"/"middle" pan.
- `scroll(dy)`: wheel clicks, positive zooms in (the distance shrinks by `zoom_step` per click).
- `key_down/key_up(key)` with lower-case key names ("w", "space", ...), and `update(dt)` in seconds for fly:
  W/A/S/D forward/left/back/right, Q/E down/up along the camera axes. Flying moves the whole rig, the target
  included, so orbiting afterwards pivots around a point in front of the new eye. "r" resets the view.

Until the first input, a controller built with `from_camera` returns the given camera's exact pose and intrinsics
(roll and off-centre principal points included), so the viewer opens on the same image a headless render gives.
"""

import math

import numpy as np

from ngfx.scenes.camera import Camera, intrinsics_from_fov
from ngfx.viewer.state import AdaptiveResolution, ViewerState

__all__ = ["CameraController", "ViewerState", "AdaptiveResolution"]

_MAX_PITCH = math.radians(89.0)  # keep the view direction off the up axis, where yaw is undefined
_FLY_AXES = {"w": (0, 0, 1), "s": (0, 0, -1), "d": (1, 0, 0), "a": (-1, 0, 0), "e": (0, -1, 0), "q": (0, 1, 0)}


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(v)
    if not np.isfinite(n) or n == 0:
        raise ValueError(f"cannot normalise {v}")
    return v / n


def _horizontal_basis(up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors spanning the plane orthogonal to `up`; yaw 0 looks along the first."""
    for ref in ((0.0, 0.0, -1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0)):
        ref = np.asarray(ref)
        if abs(ref @ up) < 0.9:
            e1 = _unit(ref - (ref @ up) * up)
            return e1, np.cross(up, e1)
    raise AssertionError("unreachable: one reference axis is always far from up")


class CameraController:
    """An orbit/fly camera rig with undo-free state; `camera(width, height)` renders it as a Camera."""

    def __init__(self, target, distance: float, yaw: float, pitch: float, *, up=(0.0, 1.0, 0.0),
                 fov_y_deg: float = 45.0, scale: float | None = None, near: float = 0.01, far: float = 1.0e4,
                 initial_camera: Camera | None = None):
        """`scale` is the scene size that sets fly speed and zoom limits (default: `distance`)."""
        self.up = _unit(up)
        self._e1, self._e2 = _horizontal_basis(self.up)
        self.fov_y_deg, self.near, self.far = float(fov_y_deg), float(near), float(far)
        self.scale = float(scale if scale is not None else distance)
        self.rotate_speed = 0.005  # radians per dragged pixel
        self.zoom_step = 0.9  # distance factor per wheel click
        self.fly_speed = 0.5  # scene sizes per second
        self.revision = 0  # bumped on every change, so a window can tell when the view moved
        self._keys: set[str] = set()
        self._viewport_height = initial_camera.height if initial_camera is not None else 480
        self._initial_camera = initial_camera
        self._initial = (np.asarray(target, dtype=np.float64).copy(), float(distance), float(yaw), float(pitch))
        self.reset()

    # --- construction -----------------------------------------------------------------------------------
    @classmethod
    def from_camera(cls, camera: Camera, *, up=(0.0, 1.0, 0.0), center=None,
                    distance: float | None = None) -> "CameraController":
        """Orbit around `center` (projected onto the view axis, so the view does not jump), else around the
        point `distance` ahead (default: the depth of the world origin, or 1 when it is behind the camera)."""
        eye = camera.position
        forward = camera.T_world_camera[:3, 2] / np.linalg.norm(camera.T_world_camera[:3, 2])
        if center is not None:
            depth = float((np.asarray(center, dtype=np.float64) - eye) @ forward)
            distance = depth if depth > 1e-9 else float(np.linalg.norm(np.asarray(center) - eye)) or 1.0
        elif distance is None:
            depth = float(-eye @ forward)
            distance = depth if depth > 1e-9 else 1.0
        up = _unit(up)
        yaw, pitch = cls._angles(forward, up)
        return cls(eye + distance * forward, distance, yaw, pitch, up=up, fov_y_deg=camera.fov_y_deg,
                   near=camera.near, far=camera.far, initial_camera=camera)

    @classmethod
    def from_bounds(cls, lo, hi, *, up=(0.0, 1.0, 0.0), fov_y_deg: float = 45.0, yaw: float = 0.0,
                    pitch: float = math.radians(-20.0)) -> "CameraController":
        """Frame the axis-aligned box [lo, hi] (world units): its bounding sphere fits the vertical FOV."""
        lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
        radius = max(float(np.linalg.norm(hi - lo)) / 2, 1e-6)
        distance = 1.1 * radius / math.sin(math.radians(fov_y_deg) / 2)
        return cls((lo + hi) / 2, distance, yaw, pitch, up=up, fov_y_deg=fov_y_deg, scale=radius,
                   near=radius * 1e-3, far=distance + radius * 1e3)

    @staticmethod
    def _angles(forward: np.ndarray, up: np.ndarray) -> tuple[float, float]:
        """(yaw, pitch) of a unit view direction about `up` (the inverse of `forward`)."""
        e1, e2 = _horizontal_basis(up)
        pitch = math.asin(float(np.clip(forward @ up, -1.0, 1.0)))
        yaw = math.atan2(float(forward @ e2), float(forward @ e1))
        return yaw, float(np.clip(pitch, -_MAX_PITCH, _MAX_PITCH))

    # --- the view -----------------------------------------------------------------------------------------
    @property
    def forward(self) -> np.ndarray:
        """Unit view direction in world coordinates."""
        cp = math.cos(self.pitch)
        horizontal = math.cos(self.yaw) * self._e1 + math.sin(self.yaw) * self._e2
        return cp * horizontal + math.sin(self.pitch) * self.up

    @property
    def eye(self) -> np.ndarray:
        """Camera centre in world coordinates."""
        if self._pristine:
            return self._initial_camera.position
        return self.target - self.distance * self.forward

    def camera(self, width: int, height: int) -> Camera:
        """The current view as a Camera of `width` x `height` pixels (centred principal point)."""
        self._viewport_height = int(height)
        if self._pristine:
            cam = self._initial_camera
            if (cam.width, cam.height) == (width, height):
                return cam
            return cam.replace(K=intrinsics_from_fov(width, height, fov_y_deg=self.fov_y_deg),
                               width=int(width), height=int(height))
        return Camera.look_at(self.eye, self.target, self.up, width=int(width), height=int(height),
                              fov_y_deg=self.fov_y_deg, near=self.near, far=self.far)

    def _axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World (right, down, forward) of the current view: the OpenCV camera axes."""
        if self._pristine:
            R_world_camera = self._initial_camera.T_world_camera[:3, :3]
            return R_world_camera[:, 0], R_world_camera[:, 1], R_world_camera[:, 2]
        forward = self.forward
        right = _unit(np.cross(forward, self.up))  # as in Camera.look_at; pitch is clamped off the poles
        return right, np.cross(forward, right), forward

    def _changed(self) -> None:
        self._pristine = False
        self.revision += 1

    # --- events -------------------------------------------------------------------------------------------
    def drag(self, dx: float, dy: float, button: str = "left") -> None:
        """Left: orbit (drag right swings the eye left, drag down raises it); right/middle: pan."""
        if button == "left":
            self.yaw -= self.rotate_speed * dx
            self.pitch = float(np.clip(self.pitch - self.rotate_speed * dy, -_MAX_PITCH, _MAX_PITCH))
        elif button in ("right", "middle"):
            right, down, _ = self._axes()
            # world units per pixel at the target's depth, so the point under the cursor follows it
            per_pixel = 2 * self.distance * math.tan(math.radians(self.fov_y_deg) / 2) / self._viewport_height
            self.target = self.target - per_pixel * (dx * right + dy * down)
        else:
            return
        self._changed()

    def scroll(self, dy: float) -> None:
        """Zoom by `zoom_step ** dy` on the distance to the target (positive dy moves closer)."""
        if dy == 0:
            return
        self.distance = float(np.clip(self.distance * self.zoom_step ** dy, 1e-4 * self.scale, 1e4 * self.scale))
        self._changed()

    def key_down(self, key: str) -> bool:
        """Press a key; returns whether the controller uses it ("r" resets at once, fly keys move in update)."""
        if key == "r":
            self.reset()
            return True
        if key in _FLY_AXES:
            self._keys.add(key)
            return True
        return False

    def key_up(self, key: str) -> None:
        """Release a key."""
        self._keys.discard(key)

    def update(self, dt: float) -> bool:
        """Advance fly motion by `dt` seconds for the held keys; returns whether the view moved."""
        direction = sum((np.asarray(_FLY_AXES[k], dtype=np.float64) for k in self._keys), np.zeros(3))
        if dt <= 0 or not direction.any():
            return False
        right, down, forward = self._axes()
        step = np.column_stack([right, down, forward]) @ _unit(direction)
        self.target = self.target + self.fly_speed * self.scale * dt * step
        self._changed()
        return True

    def reset(self) -> None:
        """Back to the initial view (the exact initial camera when built with `from_camera`)."""
        target, self.distance, self.yaw, self.pitch = self._initial
        self.target = target.copy()
        self._keys.clear()
        self._pristine = self._initial_camera is not None
        self.revision += 1
