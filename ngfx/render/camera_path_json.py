"""nerfstudio `camera_path.json` files: load them as ngfx Cameras, and write them back.

The format (REFERENCE 1.8), as nerfstudio's renderer reads it:
- top level: `render_width`, `render_height` (pixels), `seconds` (fps = number of frames / seconds),
  `camera_type` (only "perspective" is supported here; a missing one means perspective), and `camera_path`;
- each `camera_path[i]`: `camera_to_world`, 16 floats **row-major**, an OpenGL camera-to-world (+x right,
  +y up, -z forward); `fov`, the **vertical** field of view in degrees; `aspect`; optional `render_time`
  in [0, 1] (on every frame or on none).

Loaded cameras have square pixels and a centred principal point, K from `fov` and `render_height` as
nerfstudio builds it (`aspect` is checked but not used). The editor's state (`keyframes`,
`smoothness_value`, `is_cycle`, ...) and `crop` are ignored; only `camera_path` frames are read.
"""

import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np

from ngfx.errors import InputError
from ngfx.render.paths import check_uniform_cameras
from ngfx.scenes.camera import Camera

__all__ = ["CameraPath", "load_camera_path", "save_camera_path"]


@dataclasses.dataclass(frozen=True)
class CameraPath:
    """A loaded camera path: one Camera per output frame, all of size render_width x render_height.

    `times` is None when the file has no `render_time`, else the frames' times: in seconds of scene time
    when a duration was given to `load_camera_path`, else the file's normalised [0, 1] values.
    `Camera.time` matches it.
    """

    cameras: list
    fps: float
    seconds: float
    render_width: int
    render_height: int
    times: list | None = None


def _number(value, file, field: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"expected a finite number, got {value!r}", file=file, field=field)
    if positive and value <= 0:
        raise InputError(f"must be positive, got {value!r}", file=file, field=field)
    return float(value)


def _size(value, file, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputError(f"must be a positive integer (pixels), got {value!r}", file=file, field=field)
    return value


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"not readable JSON ({e})", file=path) from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object at the top level", file=path)
    return data


def _require(mapping: dict, key: str, file, field: str):
    if key not in mapping:
        raise InputError(f"missing '{key}'", file=file, field=field,
                         fix="camera_path.json needs render_width, render_height, seconds and camera_path")
    return mapping[key]


def _camera_to_world(value, file, field: str) -> np.ndarray:
    """The 4x4 OpenGL camera-to-world of a frame (16 row-major floats or nested 4x4), checked to be rigid."""
    try:
        matrix = np.asarray(value, dtype=np.float64).reshape(4, 4)
    except (TypeError, ValueError):
        raise InputError("expected 16 numbers (a row-major 4x4)", file=file, field=field) from None
    if not np.isfinite(matrix).all():
        raise InputError("contains NaN or infinity", file=file, field=field)
    if not np.allclose(matrix[3], [0, 0, 0, 1], atol=1e-6):
        raise InputError(f"last row is {matrix[3].tolist()}, not [0, 0, 0, 1]", file=file, field=field,
                         fix="camera_to_world is row-major; a column-major matrix puts the translation there")
    rotation = matrix[:3, :3]
    if not np.allclose(rotation.T @ rotation, np.eye(3), atol=1e-4) or np.linalg.det(rotation) <= 0:
        raise InputError("the rotation part is not a rotation (scaled, sheared or mirrored)", file=file,
                         field=field)
    matrix[3] = [0.0, 0.0, 0.0, 1.0]
    return matrix


def _frame_camera(frame, i: int, size: tuple[int, int], file) -> tuple[Camera, float | None]:
    """One `camera_path[i]` entry -> (Camera without time, its render_time or None)."""
    where = f"camera_path[{i}]"
    if not isinstance(frame, dict):
        raise InputError("expected an object", file=file, field=where)
    T_world_camera_gl = _camera_to_world(_require(frame, "camera_to_world", file, f"{where}.camera_to_world"),
                                         file, f"{where}.camera_to_world")
    fov_y_deg = _number(_require(frame, "fov", file, f"{where}.fov"), file, f"{where}.fov", positive=True)
    if fov_y_deg >= 180:
        raise InputError(f"vertical fov {fov_y_deg} degrees is not below 180", file=file,
                         field=f"{where}.fov")
    if "aspect" in frame:
        _number(frame["aspect"], file, f"{where}.aspect", positive=True)
    render_time = None
    if "render_time" in frame:
        render_time = _number(frame["render_time"], file, f"{where}.render_time")
        if not 0.0 <= render_time <= 1.0:
            raise InputError(f"render_time {render_time} is outside [0, 1]", file=file,
                             field=f"{where}.render_time")
    camera = Camera.from_opengl(T_world_camera_gl, *size, fov_y_deg=fov_y_deg, name=where)
    return camera, render_time


def load_camera_path(path, *, duration_s: float | None = None) -> CameraPath:
    """Read a nerfstudio camera_path.json as OpenCV Cameras (see the module docstring for the format).

    `render_time` values (fractions of the clip) become scene times `render_time * duration_s` when
    `duration_s` is given, and stay in [0, 1] otherwise. Raises InputError naming the file and field on any
    malformed entry.
    """
    path = Path(path)
    data = _read_json(path)
    camera_type = data.get("camera_type", "perspective")
    if camera_type != "perspective":
        raise InputError(f"camera_type '{camera_type}' is not supported", file=path, field="camera_type",
                         fix="ngfx renders perspective camera paths only")
    size = tuple(_size(_require(data, k, path, k), path, k) for k in ("render_width", "render_height"))
    seconds = _number(_require(data, "seconds", path, "seconds"), path, "seconds", positive=True)
    frames = _require(data, "camera_path", path, "camera_path")
    if not isinstance(frames, list) or not frames:
        raise InputError("expected a non-empty list of frames", file=path, field="camera_path")
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise InputError(f"duration_s must be positive, got {duration_s!r}", field="duration_s")
    parsed = [_frame_camera(frame, i, size, path) for i, frame in enumerate(frames)]
    timed = [render_time is not None for _, render_time in parsed]
    if any(timed) and not all(timed):
        raise InputError("render_time is on some frames but not all", file=path,
                         field=f"camera_path[{timed.index(not timed[0])}].render_time",
                         fix="give every frame a render_time, or none")
    times = None
    if all(timed):
        times = [t * duration_s if duration_s is not None else t for _, t in parsed]
    cameras = [cam.replace(time=None if times is None else times[i]) for i, (cam, _) in enumerate(parsed)]
    return CameraPath(cameras=cameras, fps=len(cameras) / seconds, seconds=seconds, render_width=size[0],
                      render_height=size[1], times=times)


def _frame_entry(camera: Camera, i: int, duration_s: float | None) -> dict:
    """One camera -> a `camera_path[i]` entry; checks that the format can represent its intrinsics."""
    K = camera.K
    centre = [camera.width / 2, camera.height / 2]
    centred = np.allclose(K[:2, 2], centre, rtol=0, atol=1e-6 * camera.width)
    if not centred or not math.isclose(camera.fx, camera.fy, rel_tol=1e-9) or K[0, 1] != 0:
        raise InputError("camera_path.json stores only a vertical fov: K must have fx == fy, no skew and "
                         "a centred principal point", field=f"cameras[{i}].K")
    entry = {"camera_to_world": camera.to_opengl().ravel().tolist(), "fov": camera.fov_y_deg,
             "aspect": camera.width / camera.height}
    if camera.time is not None:
        render_time = camera.time / duration_s if duration_s is not None else camera.time
        if -1e-9 <= render_time <= 1 + 1e-9:  # forgive rounding in time / duration at the clip's ends
            render_time = min(max(render_time, 0.0), 1.0)
        else:
            raise InputError(f"time {camera.time} maps to render_time {render_time}, outside [0, 1]",
                             field=f"cameras[{i}].time",
                             fix="pass duration_s (the scene's duration in seconds)")
        entry["render_time"] = render_time
    return entry


def save_camera_path(cameras: list[Camera], path, *, fps: float, duration_s: float | None = None) -> None:
    """Write `cameras` as a nerfstudio camera_path.json (atomically: a temporary file, then a rename).

    All cameras must share one size and have fx == fy and a centred principal point. Camera times become
    `render_time = time / duration_s` (or the times themselves, which must then lie in [0, 1]); they are
    written when the cameras have times (all of them, or none). `seconds` is len(cameras) / fps.
    """
    if not cameras:
        raise InputError("no cameras to save", field="cameras")
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be positive, got {fps!r}", field="fps")
    check_uniform_cameras(cameras, "camera")
    first = cameras[0]
    data = {"camera_type": "perspective", "render_width": first.width, "render_height": first.height,
            "seconds": len(cameras) / fps, "fps": fps, "keyframes": [],
            "camera_path": [_frame_entry(camera, i, duration_s) for i, camera in enumerate(cameras)]}
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        temporary.write_text(json.dumps(data, indent=2))
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
