"""Loaders for NeRF-style camera JSON (REFERENCE.md 1.4-1.5): instant-ngp / nerfstudio `transforms.json`,
Blender / NeRF-synthetic `transforms_{train,val,test}.json`, and D-NeRF (the Blender files plus a per-frame
`time`).

Conversion, done once here (per frame in nerf_frames.py): `transform_matrix` is an OpenGL camera-to-world;
`Camera.from_opengl` turns it into ngfx's OpenCV world-to-camera. Intrinsics may sit at the top level or per
frame (a frame's keys win): `fl_x fl_y` (one focal serves both axes) are preferred over `camera_angle_x/_y`
(radians) and `x_fov/y_fov` (degrees); `cx cy` default to W/2, H/2; `w h` (floats allowed if whole) default
to the image file's size, read from its header. `k1 k2 p1 p2 [k3 k4]` become `CaptureFrame.distortion`
(fisheye is refused).

Decisions:
- scene_box: instant-ngp's own box. ngp maps world p to p * scale + offset (defaults 0.33 and 0.5, read from
  the file when given) and puts the unit cube, inflated to side `aabb_scale`, around (0.5, 0.5, 0.5); in world
  units that is a cube of side aabb_scale / scale centred at (0.5 - offset) / scale (the origin by default).
- up: the mean of the cameras' up vectors, snapped to the nearest signed axis when within 30 degrees of it,
  and +z when the cameras disagree (mean shorter than 0.5). Processed ngp / nerfstudio / Blender data is
  +z up (the fox and lego: mean camera up within 20 degrees of +z).
- split "auto": Blender / D-NeRF keep their files' splits; a single transforms.json, whose frames are sorted
  by image path first (as nerfstudio does), holds out every 8th view (index % 8 == 0) as "val".
  "every:N" and "cameras:a,b" replace any split of the format (capture.assign_splits; a view is named by
  its image path relative to the JSON without suffix, or its image stem).
- Image files are only checked for existence here (and one header read per declared size); pixels are read
  by images.py. The D-NeRF npz of shared/data (pixels inline, no files) is not a capture and is not loaded.
"""

import dataclasses
import math
from pathlib import Path

import numpy as np

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.captures.capture import (SPLITS, Capture, CaptureFrame, LoadOptions, assign_splits,
                                          mean_camera_up, read_json_object)
from ngfx.scenes.captures.nerf_frames import (RawFrame, check_poses, distortion, downscaled, find_images,
                                              image_sizes, intrinsics)

__all__ = ["load_blender", "load_transforms"]

_PER_FRAME_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h", "camera_angle_x", "camera_angle_y", "x_fov", "y_fov",
                   "k1", "k2", "k3", "k4", "p1", "p2", "is_fisheye", "camera_model")


def load_transforms(path: Path, options: LoadOptions | None = None) -> Capture:
    """An instant-ngp / nerfstudio capture from `transforms.json` (or a folder holding it). A folder holding
    only `transforms_{train,val,test}.json` is loaded by `load_blender`."""
    path, options = Path(path), options or LoadOptions()
    if path.is_dir():
        if not (path / "transforms.json").is_file():
            if any((path / f"transforms_{s}.json").is_file() for s in SPLITS):
                return load_blender(path, options)
            raise InputError("no transforms.json or transforms_{train,val,test}.json in this folder",
                             file=path, fix="pass a NeRF-style capture's folder, or the JSON file itself")
        path = path / "transforms.json"
    data = _read_json(path)
    raws = sorted(_read_frames(data, path, "train"), key=lambda r: r.file_path)
    return _build(raws, root=path.parent, fmt="transforms", options=options, own_split=False,
                  scene_box=_scene_box(data, path))


def load_blender(folder: Path, options: LoadOptions | None = None) -> Capture:
    """A Blender / NeRF-synthetic capture from `transforms_{train,val,test}.json` (whichever exist), each file
    its own split; D-NeRF when the frames carry `time` (seconds as given, D-NeRF's are in [0, 1])."""
    folder, options = Path(folder), options or LoadOptions()
    folder = folder.parent if folder.is_file() else folder
    files = [(s, folder / f"transforms_{s}.json") for s in SPLITS]
    files = [(s, f) for s, f in files if f.is_file()]
    if not files:
        raise InputError("no transforms_train.json, transforms_val.json or transforms_test.json here",
                         file=folder, fix="pass the folder of a Blender / NeRF-synthetic or D-NeRF capture")
    raws = [r for s, f in files for r in _read_frames(_read_json(f), f, s)]
    fmt = "dnerf" if any(r.time is not None for r in raws) else "blender"
    return _build(raws, root=folder, fmt=fmt, options=options, own_split=True, scene_box=None)


def _build(raws: list[RawFrame], *, root: Path, fmt: str, options: LoadOptions, own_split: bool,
           scene_box) -> Capture:
    if not raws:
        raise InputError("no frames", file=root, field="frames", fix="list the views under 'frames'")
    check_poses(raws)
    raws = find_images(raws, options)
    sizes, rgba = image_sizes(raws)
    headers = {}  # one image header per pre-downscaled folder
    frames = tuple(_frame(r, *sizes[r], options.downscale, headers) for r in raws)
    if not (own_split and options.split == "auto"):
        frames = _split(frames, options.split, file=raws[0].json)
    up = _estimate_up([f.camera for f in frames])
    return Capture(root=root, format=fmt, frames=frames, up=up, scene_box=scene_box, rgba=rgba)


def _frame(r: RawFrame, width: int, height: int, downscale: int, headers: dict) -> CaptureFrame:
    name = (r.image.relative_to(r.json.parent) if r.image.is_relative_to(r.json.parent) else r.image)
    name = name.with_suffix("").as_posix()  # "train/r_0", "images/0001": what cameras:a,b may name
    K, coeffs = intrinsics(r, width, height), distortion(r)
    try:
        camera = Camera.from_opengl(r.c2w_gl, width, height, K=K, time=r.time, name=name)
    except InputError as e:  # Camera's own checks, re-labelled with the file and frame
        raise InputError(f"{r.where}: {e.problem}", file=r.json, field=f"frames[{r.index}]",
                         fix=e.fix) from None
    image, mask, camera = downscaled(r, camera, downscale, headers)
    return CaptureFrame(image_path=image, camera=camera, split=r.split, mask_path=mask, distortion=coeffs)


def _split(frames: tuple[CaptureFrame, ...], split: str, *, file: Path) -> tuple[CaptureFrame, ...]:
    """LoadOptions.split (capture.assign_splits, NeRF-JSON reading): each frame "train" or "val", a view
    named by its camera name (image path relative to the JSON, no suffix) or its image's stem."""
    views = [{f.camera.name, f.image_path.stem, f.camera_id} for f in frames]
    splits = assign_splits(views, split, file=file, strict=True)
    return tuple(dataclasses.replace(f, split=s) for f, s in zip(frames, splits, strict=True))


def _estimate_up(cameras) -> tuple[float, float, float]:
    """World up: the mean camera up (capture.mean_camera_up), snapped to the nearest signed axis within 30
    degrees, or +z when the cameras disagree (mean length below 0.5), as processed ngp/nerfstudio data is."""
    mean = mean_camera_up(cameras)
    length = float(np.linalg.norm(mean))
    if length < 0.5:
        return (0.0, 0.0, 1.0)
    up = mean / length
    axis = np.zeros(3)
    axis[np.argmax(np.abs(up))] = np.sign(up[np.argmax(np.abs(up))])
    if up @ axis >= math.cos(math.radians(30)):
        up = axis
    return tuple(float(v) for v in up)


# --- reading -----------------------------------------------------------------------------------------------

def _read_json(path: Path) -> dict:
    data = read_json_object(path)
    if not isinstance(data.get("frames"), list):
        raise InputError("expected an object with a 'frames' list", file=path, field="frames",
                         fix="give each view as an entry of 'frames'")
    return data


def _read_frames(data: dict, path: Path, split: str) -> list[RawFrame]:
    top = {k: data[k] for k in _PER_FRAME_KEYS if k in data}
    raws = []
    for i, frame in enumerate(data["frames"]):
        if not isinstance(frame, dict) or not isinstance(frame.get("file_path"), str):
            raise InputError("needs a 'file_path' string", file=path, field=f"frames[{i}].file_path",
                             fix="name the frame's image relative to the JSON file")
        raw = RawFrame(json=path, index=i, file_path=frame["file_path"], frame=frame, split=split,
                       params=top | {k: frame[k] for k in _PER_FRAME_KEYS if k in frame})
        raw.c2w_gl = _matrix(frame.get("transform_matrix"), raw)
        if "time" in frame:  # D-NeRF; seconds as given
            raw.params["time"] = frame["time"]
            raw.time = raw.number("time")
        raws.append(raw)
    return raws


def _matrix(value, raw: RawFrame) -> np.ndarray:
    """A 4x4 (or 3x4) list of numbers as float64 4x4; NaN/inf are let through and counted later."""
    try:
        m = np.array(value, dtype=object)
        ok = m.shape in ((4, 4), (3, 4)) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                 for v in m.flat)
    except ValueError:
        ok = False
    if not ok:
        raise InputError(f"{raw.where}: is not a 4x4 matrix of numbers", file=raw.json,
                         field=f"frames[{raw.index}].transform_matrix",
                         fix="give the OpenGL camera-to-world as 4 rows of 4 numbers")
    return np.vstack([m.astype(np.float64), [[0, 0, 0, 1]]])[:4]


def _scene_box(data: dict, path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """instant-ngp's box in world units (module docstring), or None without `aabb_scale`."""
    if "aabb_scale" not in data:
        return None
    try:
        aabb, scale = float(data["aabb_scale"]), float(data.get("scale", 0.33))
        offset = np.broadcast_to(np.asarray(data.get("offset", 0.5), dtype=np.float64), 3)
        ok = aabb > 0 and scale > 0 and bool(np.isfinite([aabb, scale, *offset]).all())
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise InputError(f"aabb_scale={data.get('aabb_scale')!r}, scale={data.get('scale')!r}, "
                         f"offset={data.get('offset')!r} are not positive numbers (offset: 3 numbers)",
                         file=path, field="aabb_scale", fix="aabb_scale is a power of 2 up to 128")
    centre = (0.5 - offset) / scale
    return centre - 0.5 * aabb / scale, centre + 0.5 * aabb / scale
