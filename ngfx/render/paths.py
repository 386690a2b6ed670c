"""Camera paths for headless renders and the viewer: turntables, spirals and smooth keyframe splines.

Every path returns `list[Camera]` in ngfx's one convention (OpenCV `T_camera_world`, see
`ngfx.scenes.camera`). Ring paths (`orbit`, `spiral`, `orbit_for_bounds`) carry no time (`Camera.time`
is None); `interpolate` carries time when its keyframes do.

Ring parameterisation: around the unit `up` vector, azimuth 0 lies along world +z projected onto the
plane perpendicular to `up` (world -y when `up` is near +-z), and azimuth grows right-handedly about
`up`. Frame k sits at azimuth `start + 360 * turns * k / frames`, so a whole number of turns loops
without repeating the first frame.

Keyframe splines: positions follow a cardinal spline (Catmull-Rom at tension 0) with non-uniform knots;
rotations follow squad (Shoemake 1987) on quaternions aligned to one hemisphere, so they take the short
way; K, near, far and time are linear per segment. Every keyframe is met exactly at its knot.
"""

import math

import numpy as np

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.transforms import quat_from_matrix, quat_multiply, quat_slerp, quat_to_matrix

__all__ = ["check_uniform_cameras", "interpolate", "orbit", "orbit_for_bounds", "spiral"]


def _vector3(value, field: str) -> np.ndarray:
    v = np.asarray(value, dtype=np.float64)
    if v.shape != (3,) or not np.isfinite(v).all():
        raise InputError(f"{field} must be 3 finite numbers, got {value!r}", field=field)
    return v


def _ring_basis(up) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit `up` and two unit vectors spanning the plane perpendicular to it (azimuth 0 and 90 degrees)."""
    up = _vector3(up, "up")
    if np.linalg.norm(up) == 0:
        raise InputError("up must be a non-zero vector", field="up", fix="e.g. up=(0, 1, 0)")
    up = up / np.linalg.norm(up)
    reference = np.array([0.0, 0.0, 1.0]) if abs(up[2]) < 0.9 else np.array([0.0, -1.0, 0.0])
    axis0 = reference - up * (reference @ up)
    axis0 /= np.linalg.norm(axis0)
    return up, axis0, np.cross(up, axis0)


def _check_count(frames) -> int:
    if not isinstance(frames, (int, np.integer)) or frames < 1:
        raise InputError(f"frames must be a positive integer, got {frames!r}", field="frames")
    return int(frames)


def _ring(center, radius, up, azimuths_rad, elevation_deg, heights, *, width, height, fov_y_deg, near, far):
    """Cameras at (azimuth, elevation) at `radius` from `center`, lifted by `heights` along up, facing it."""
    center = _vector3(center, "center")
    if not (np.isfinite(radius) and radius > 0):
        raise InputError(f"radius must be a positive number, got {radius!r}", field="radius")
    up, axis0, axis90 = _ring_basis(up)
    near = radius * 1e-2 if near is None else near
    far = radius * 1e2 if far is None else far
    cameras = []
    elevation = math.radians(elevation_deg)
    for azimuth, lift in zip(azimuths_rad, heights):
        horizontal = math.cos(azimuth) * axis0 + math.sin(azimuth) * axis90
        eye = center + radius * (math.cos(elevation) * horizontal + math.sin(elevation) * up) + lift * up
        cameras.append(Camera.look_at(eye, center, up, width=width, height=height, fov_y_deg=fov_y_deg,
                                      near=near, far=far))
    return cameras


def orbit(center, radius: float, *, frames: int, up=(0.0, 1.0, 0.0), elevation_deg: float = 20.0,
          start_azimuth_deg: float = 0.0, turns: float = 1.0, width: int, height: int,
          fov_y_deg: float = 45.0, near: float | None = None, far: float | None = None) -> list[Camera]:
    """A turntable: `frames` cameras at distance `radius` from `center`, looking at it.

    Elevation is the angle above the plane perpendicular to `up`. For a whole number of `turns` the last frame
    stops one step short of the first, so the sequence loops. near/far default to radius/100 and 100*radius.
    """
    return spiral(center, radius, frames=frames, up=up, height_span=0.0, turns=turns,
                  elevation_deg=elevation_deg, start_azimuth_deg=start_azimuth_deg, width=width,
                  height=height, fov_y_deg=fov_y_deg, near=near, far=far)


def spiral(center, radius: float, *, frames: int, up=(0.0, 1.0, 0.0), height_span: float, turns: float = 2.0,
           elevation_deg: float = 0.0, start_azimuth_deg: float = 0.0, width: int, height: int,
           fov_y_deg: float = 45.0, near: float | None = None, far: float | None = None) -> list[Camera]:
    """An orbit whose eye rises and falls along `up` by +-height_span/2 once per path, facing `center`.

    The height offset is `height_span / 2 * sin(2 pi k / frames)`, so the path loops when `turns` is whole.
    """
    frames = _check_count(frames)
    if not np.isfinite(height_span):
        raise InputError(f"height_span must be a finite number, got {height_span!r}", field="height_span")
    steps = np.arange(frames) / frames
    azimuths = np.radians(start_azimuth_deg + 360.0 * turns * steps)
    heights = 0.5 * height_span * np.sin(2 * np.pi * steps)
    return _ring(center, radius, up, azimuths, elevation_deg, heights, width=width, height=height,
                 fov_y_deg=fov_y_deg, near=near, far=far)


def orbit_for_bounds(bounds_min, bounds_max, *, frames: int, up=(0.0, 1.0, 0.0), width: int, height: int,
                     fov_y_deg: float = 45.0, margin: float = 1.1, elevation_deg: float = 20.0,
                     start_azimuth_deg: float = 0.0, turns: float = 1.0) -> list[Camera]:
    """A turntable around an axis-aligned box that keeps its 8 corners inside the image from every azimuth.

    The distance is the smallest (within 1%) at which every corner, seen from 36 azimuths, lands in the
    central 1/margin of the image, found by bisection between the box's bounding sphere (always enough)
    and the box's half-extent. near and far enclose the bounding sphere.
    """
    lo, hi = _vector3(bounds_min, "bounds_min"), _vector3(bounds_max, "bounds_max")
    if (hi < lo).any():
        raise InputError(f"bounds_max {hi.tolist()} is below bounds_min {lo.tolist()}", field="bounds_max")
    sphere_radius = 0.5 * float(np.linalg.norm(hi - lo))
    if sphere_radius == 0:
        raise InputError("bounds are a single point; there is nothing to frame", field="bounds_max")
    if not margin >= 1.0:
        raise InputError(f"margin must be at least 1, got {margin!r}", field="margin")
    if not 0 < fov_y_deg < 180:
        raise InputError(f"fov_y_deg must lie in (0, 180), got {fov_y_deg!r}", field="fov_y_deg")
    center = 0.5 * (lo + hi)
    half_fov = min(math.radians(fov_y_deg) / 2, math.atan(math.tan(math.radians(fov_y_deg) / 2) * width / height))
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    kwargs = dict(up=up, elevation_deg=elevation_deg, width=width, height=height, fov_y_deg=fov_y_deg)

    def fits(distance: float) -> bool:
        probe = orbit(center, distance, frames=36, near=1e-6, far=1e9, **kwargs)
        return all(_corners_inside(cam, corners, margin) for cam in probe)

    far_enough = margin * sphere_radius / math.sin(half_fov)
    near_enough = 0.5 * float((hi - lo).min())
    for _ in range(20):
        if far_enough - near_enough < 0.01 * far_enough:
            break
        middle = 0.5 * (near_enough + far_enough)
        near_enough, far_enough = (near_enough, middle) if fits(middle) else (middle, far_enough)
    distance = far_enough
    near = max(distance - sphere_radius * margin, 1e-3 * distance)
    return orbit(center, distance, frames=frames, start_azimuth_deg=start_azimuth_deg, turns=turns,
                 near=near, far=distance + margin * sphere_radius, **kwargs)


def _corners_inside(camera: Camera, corners: np.ndarray, margin: float) -> bool:
    """Whether every corner is in front of the camera and projects into the central 1/margin of the image."""
    p = corners @ camera.T_camera_world[:3, :3].T + camera.T_camera_world[:3, 3]
    if (p[:, 2] <= 1e-9).any():
        return False
    x = (camera.fx * p[:, 0] / p[:, 2] + camera.cx) / camera.width - 0.5
    y = (camera.fy * p[:, 1] / p[:, 2] + camera.cy) / camera.height - 0.5
    return bool((np.abs(x) <= 0.5 / margin).all() and (np.abs(y) <= 0.5 / margin).all())


# --- quaternions (wxyz; squad pieces on top of ngfx.scenes.transforms) ---------------------------------


def _quat_log(q: np.ndarray) -> np.ndarray:
    """Unit quaternion -> axis * half-angle."""
    norm = np.linalg.norm(q[1:])
    return q[1:] * (math.atan2(norm, q[0]) / norm) if norm > 1e-12 else q[1:].copy()


def _quat_exp(v: np.ndarray) -> np.ndarray:
    angle = np.linalg.norm(v)
    return np.array([math.cos(angle), *(v * (math.sin(angle) / angle if angle > 1e-12 else 1.0))])


def _align_hemispheres(quats: np.ndarray, loop: bool) -> np.ndarray:
    """Negate quaternions so neighbours have a non-negative dot (the short way); a loop gets q0 appended."""
    quats = np.concatenate([quats, quats[:1]]) if loop else quats.copy()
    for i in range(1, len(quats)):
        if quats[i] @ quats[i - 1] < 0:
            quats[i] = -quats[i]
    return quats


def _squad_controls(quats: np.ndarray, loop: bool, tension: float) -> np.ndarray:
    """Squad inner control points s_i = q_i exp(-(1 - tension)/4 (log(q_i^-1 q_i+1) + log(q_i^-1 q_i-1)))."""
    count, controls = len(quats), quats.copy()
    for i in range(count):
        if loop:  # quats[-1] repeats quats[0], so neighbours skip it
            prev, nxt = quats[(i - 1) % (count - 1)], quats[(i + 1) % (count - 1)]
        elif 0 < i < count - 1:
            prev, nxt = quats[i - 1], quats[i + 1]
        else:
            continue  # open ends: s = q, the quaternion twin of a one-sided tangent
        inverse = quats[i] * np.array([1.0, -1, -1, -1])
        relative = (quat_multiply(inverse, nxt), quat_multiply(inverse, prev))
        logs = [_quat_log(r if r[0] >= 0 else -r) for r in relative]  # the short way to each neighbour
        controls[i] = quat_multiply(quats[i], _quat_exp(-(1 - tension) * (logs[0] + logs[1]) / 4))
    return controls


def _squad(q0, q1, s0, s1, u: float) -> np.ndarray:
    """Shoemake's squad: slerp(slerp(q0, q1, u), slerp(s0, s1, u), 2u(1 - u))."""
    return quat_slerp(quat_slerp(q0, q1, u), quat_slerp(s0, s1, u), 2 * u * (1 - u))


# --- keyframe splines ----------------------------------------------------------------------------------


def _knots(n_keys: int, times, loop: bool) -> np.ndarray:
    """Knot parameters: given, or 0, 1, ... (a loop has one more: the return to the first keyframe)."""
    count = n_keys + 1 if loop else n_keys
    if times is None:
        return np.arange(count, dtype=np.float64)
    knots = np.asarray(times, dtype=np.float64)
    if knots.shape != (count,) or not np.isfinite(knots).all() or (np.diff(knots) <= 0).any():
        what = "one per keyframe, plus the return knot of a loop" if loop else "one per keyframe"
        raise InputError(f"times must be {count} increasing finite numbers ({what})", field="times")
    return knots


def _neighbours(values: np.ndarray, knots: np.ndarray, loop: bool):
    """Values and knots padded by one on each side: wrapped for a loop, mirrored at the ends otherwise."""
    if loop:  # values hold n keys; knots hold n + 1 (the last is the return to key 0)
        period = knots[-1] - knots[0]
        vals = np.concatenate([values[-1:], values, values[:2]])
        ks = np.concatenate([[knots[-2] - period], knots, [knots[1] + period]])
    else:  # mirror so that the end tangents are one-sided differences
        vals = np.concatenate([2 * values[:1] - values[1:2], values, 2 * values[-1:] - values[-2:-1]])
        ks = np.concatenate([[2 * knots[0] - knots[1]], knots, [2 * knots[-1] - knots[-2]]])
    return vals, ks


def _position_tangents(points: np.ndarray, ks: np.ndarray, tension: float) -> np.ndarray:
    """Cardinal-spline tangents (per unit parameter) at the inner knots of the padded arrays."""
    return (1 - tension) * (points[2:] - points[:-2]) / (ks[2:] - ks[:-2])[:, None]


def _hermite(p0, p1, m0, m1, u: float, dt: float):
    """Cubic Hermite on one segment; tangents are per unit parameter, so they scale by the segment length."""
    return ((2 * u**3 - 3 * u**2 + 1) * p0 + (u**3 - 2 * u**2 + u) * dt * m0
            + (3 * u**2 - 2 * u**3) * p1 + (u**3 - u**2) * dt * m1)


def check_uniform_cameras(cameras, what: str = "keyframe") -> None:
    """One image size for all cameras, and times on all or none of them (paths need both)."""
    first = cameras[0]
    for i, cam in enumerate(cameras):
        if (cam.width, cam.height) != (first.width, first.height):
            raise InputError(f"{what} {i} is {cam.width}x{cam.height}, {what} 0 is "
                             f"{first.width}x{first.height}", field=f"{what}s[{i}]",
                             fix="resize them to one size with Camera.resized")
    if len({cam.time is None for cam in cameras}) > 1:
        raise InputError(f"some {what}s have a time and others do not", field=f"{what}s",
                         fix=f"give every {what} a time, or none")


def _check_keyframes(keyframes) -> None:
    if len(keyframes) < 2:
        raise InputError(f"interpolate needs at least 2 keyframes, got {len(keyframes)}", field="keyframes")
    check_uniform_cameras(keyframes, "keyframe")


def _segment_sampler(keyframes: list[Camera], knots: np.ndarray, loop: bool, tension: float):
    """A function of the knot parameter s returning (T_world_camera, [K | near, far, time] row)."""
    T_world_cameras = np.stack([cam.T_world_camera for cam in keyframes])
    padded, ks = _neighbours(T_world_cameras[:, :3, 3], knots, loop)
    tangents, points = _position_tangents(padded, ks, tension), padded[1:-1]  # one per knot
    quats = _align_hemispheres(np.stack([quat_from_matrix(R) for R in T_world_cameras[:, :3, :3]]), loop)
    controls = _squad_controls(quats, loop, tension)
    linear = np.stack([[*cam.K.ravel(), cam.near, cam.far, cam.time or 0.0] for cam in keyframes])
    if loop:  # the return knot takes keyframe 0's intrinsics and time
        linear = np.concatenate([linear, linear[:1]])

    def sample(s: float):
        i = min(int(np.searchsorted(knots, s, side="right")) - 1, len(knots) - 2)
        dt = knots[i + 1] - knots[i]
        u = (s - knots[i]) / dt
        T_world_camera = np.eye(4)
        q = _squad(quats[i], quats[i + 1], controls[i], controls[i + 1], u)
        T_world_camera[:3, :3] = quat_to_matrix(q)
        T_world_camera[:3, 3] = _hermite(points[i], points[i + 1], tangents[i], tangents[i + 1], u, dt)
        return T_world_camera, (1 - u) * linear[i] + u * linear[i + 1]

    return sample


def interpolate(keyframes: list[Camera], *, frames: int, times=None, loop: bool = False,
                tension: float = 0.5) -> list[Camera]:
    """`frames` cameras along a smooth path through `keyframes`, sampled uniformly in the knot parameter.

    `times` are the keyframes' knot parameters (increasing; default 0, 1, ...); with `loop` give one more, the
    knot where the path returns to keyframe 0 (K, near, far and time return there too). An open path's first
    and last frames are the first and last keyframes; a loop's last frame stops one step short of its start.
    Keyframe i is met exactly when a frame falls on knot i (uniform knots and
    `frames = m * (len(keyframes) - 1) + 1`, or `m * len(keyframes)` for a loop). `tension` 0 is
    Catmull-Rom, 1 eases to a stop at every keyframe.
    Cameras keep the keyframes' size; `time` is set when the keyframes have one.
    """
    _check_keyframes(keyframes)
    frames = _check_count(frames)
    if not 0.0 <= tension <= 1.0:
        raise InputError(f"tension must lie in [0, 1], got {tension!r}", field="tension")
    knots = _knots(len(keyframes), times, loop)
    sample = _segment_sampler(keyframes, knots, loop, tension)
    timed = keyframes[0].time is not None
    cameras = []
    for s in np.linspace(knots[0], knots[-1], frames, endpoint=not loop):
        T_world_camera, row = sample(s)
        cameras.append(keyframes[0].replace(
            K=row[:9].reshape(3, 3), T_camera_world=np.linalg.inv(T_world_camera), near=float(row[9]),
            far=float(row[10]), time=float(row[11]) if timed else None, name=""))
    return cameras
