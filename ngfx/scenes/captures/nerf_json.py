"""Loaders for NeRF-style camera JSON (REFERENCE.md 1.4-1.5): instant-ngp / nerfstudio `transforms.json`,
Blender / NeRF-synthetic `transforms_{train,val,test}.json`, and D-NeRF (the Blender files plus a per-frame
`time`).

Conversion, done once here: `transform_matrix` is an OpenGL camera-to-world; `Camera.from_opengl` turns it
into ngfx's OpenCV world-to-camera. Intrinsics may sit at the top level or per frame (a frame's keys win):
`fl_x fl_y` (one focal serves both axes) are preferred over `camera_angle_x/_y` (radians) and `x_fov/y_fov`
(degrees); `cx cy` default to W/2, H/2; `w h` (floats allowed if whole) default to the image file's size,
read from its header. `k1 k2 p1 p2 [k3 k4]` become `CaptureFrame.distortion` (fisheye is refused).

Decisions:
- scene_box: instant-ngp's own box. ngp maps world p to p * scale + offset (defaults 0.33 and 0.5, read from
  the file when given) and puts the unit cube, inflated to side `aabb_scale`, around (0.5, 0.5, 0.5); in world
  units that is a cube of side aabb_scale / scale centred at (0.5 - offset) / scale (the origin by default).
- up: the mean of the cameras' up vectors, snapped to the nearest signed axis when within 30 degrees of it,
  and +z when the cameras disagree (mean shorter than 0.5). Processed ngp / nerfstudio / Blender data is
  +z up (the fox and lego: mean camera up within 20 degrees of +z).
- split "auto": Blender / D-NeRF keep their files' splits; a single transforms.json, whose frames are sorted
  by image path first (as nerfstudio does), holds out every 8th view (index % 8 == 0) as "val".
  "every:N" and "cameras:a,b" replace any split of the format (see `_split_frames`).
- Image files are only checked for existence here (and one header read per declared size); pixels are read
  by images.py. The D-NeRF npz of shared/data (pixels inline, no files) is not a capture and is not loaded.
"""

import dataclasses
import math
import warnings
from pathlib import Path

import numpy as np

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.captures.capture import (SPLITS, Capture, CaptureFrame, LoadOptions, mean_camera_up,
                                          read_json_object)

__all__ = ["load_blender", "load_transforms"]

_PER_FRAME_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h", "camera_angle_x", "camera_angle_y", "x_fov", "y_fov",
                   "k1", "k2", "k3", "k4", "p1", "p2", "is_fisheye", "camera_model")
_SUFFIXES = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG", ".exr", ".webp")


@dataclasses.dataclass(eq=False)  # compared and hashed by identity
class _Raw:
    """One frame as read from a JSON file, before its camera is built."""

    json: Path
    index: int
    file_path: str
    params: dict  # top-level intrinsics overridden by the frame's
    frame: dict
    c2w_gl: np.ndarray | None = None
    time: float | None = None
    split: str = "train"
    image: Path | None = None
    mask: Path | None = None

    @property
    def where(self) -> str:
        return f"frames[{self.index}] ({self.file_path})"

    def field(self, key: str) -> str:
        return f"frames[{self.index}].{key}" if key in self.frame else key

    def number(self, key: str) -> float | None:
        value = self.params.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            where = f"{self.where}: " if key in self.frame else ""
            raise InputError(f"{where}{key} = {value!r} is not a finite number", file=self.json,
                             field=self.field(key), fix="write it as a plain JSON number")
        return float(value)


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


def _split_frames(frames: tuple[CaptureFrame, ...], split: str, *, own_split: bool,
                  file: Path) -> tuple[CaptureFrame, ...]:
    """Apply LoadOptions.split (as colmap.assign_splits does): "auto" keeps a format's own split, else holds
    out every 8th frame (0, 8, ...) as "val"; "every:N" holds out frames 0, N, 2N, ...; "cameras:a,b" holds
    out the frames whose camera name (image path relative to the JSON without suffix) or image stem is listed.
    The others become "train"; a single frame is always "train"."""
    kind, _, arg = split.partition(":")
    if split == "auto":
        if own_split:
            return frames
        kind, arg = "every", "8"
    if kind == "every" and arg.isdigit() and int(arg) >= 2:
        n = int(arg)
        held = [i % n == 0 and len(frames) > 1 for i in range(len(frames))]
    elif kind == "cameras" and any(a.strip() for a in arg.split(",")):
        names = {a.strip() for a in arg.split(",") if a.strip()}
        keys = [{f.camera.name, f.image_path.stem, f.camera_id} - {""} for f in frames]
        unknown = sorted(names - set().union(*keys))
        if unknown:
            raise InputError(f"split '{split}' names views that are not in this capture "
                             f"({', '.join(unknown[:3])})", file=file, field="split",
                             fix="list image names or stems, e.g. cameras:r_0,r_8")
        held = [bool(k & names) for k in keys]
    else:
        raise InputError(f"unknown split '{split}'", file=file, field="split",
                         fix="use auto, every:N (N >= 2) or cameras:a,b")
    return tuple(dataclasses.replace(f, split="val" if held_out else "train")
                 for f, held_out in zip(frames, held, strict=True))


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


def _read_frames(data: dict, path: Path, split: str) -> list[_Raw]:
    top = {k: data[k] for k in _PER_FRAME_KEYS if k in data}
    raws = []
    for i, frame in enumerate(data["frames"]):
        if not isinstance(frame, dict) or not isinstance(frame.get("file_path"), str):
            raise InputError("needs a 'file_path' string", file=path, field=f"frames[{i}].file_path",
                             fix="name the frame's image relative to the JSON file")
        raw = _Raw(json=path, index=i, file_path=frame["file_path"], frame=frame, split=split,
                   params=top | {k: frame[k] for k in _PER_FRAME_KEYS if k in frame})
        raw.c2w_gl = _matrix(frame.get("transform_matrix"), raw)
        if "time" in frame:  # D-NeRF; seconds as given
            raw.params["time"] = frame["time"]
            raw.time = raw.number("time")
        raws.append(raw)
    return raws


def _matrix(value, raw: _Raw) -> np.ndarray:
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


# --- building ----------------------------------------------------------------------------------------------

def _refuse_counted(bad: list[_Raw], what: str, field: str, fix: str):
    """One InputError counting the bad frames and naming the first, if there are any."""
    if bad:
        first, have = bad[0], "frames have" if len(bad) > 1 else "frame has"
        raise InputError(f"{len(bad)} {have} {what}, first: {first.where}", file=first.json,
                         field=f"frames[{first.index}].{field}", fix=fix)


def _is_rigid(T: np.ndarray) -> bool:
    R = T[:3, :3]  # loose tolerance: float32 round-off in real files, not scale or shear
    return bool(np.abs(R.T @ R - np.eye(3)).max() < 1e-2 and np.linalg.det(R) > 0)


def _check_poses(raws: list[_Raw]):
    _refuse_counted([r for r in raws if not np.isfinite(r.c2w_gl).all()], "non-finite transform_matrix",
                    "transform_matrix", "fix or remove those frames")
    _refuse_counted([r for r in raws if not _is_rigid(r.c2w_gl)], "a transform_matrix that is not a rotation "
                    "and translation (scaled, sheared or mirrored)", "transform_matrix",
                    "give camera-to-world matrices with an orthonormal, right-handed rotation")
    timed = [r for r in raws if r.time is not None]
    if timed and len(timed) < len(raws):
        _refuse_counted([r for r in raws if r.time is None], f"no time while {len(timed)} others do", "time",
                        "give every frame a time (D-NeRF: in [0, 1]) or none")


def _resolve(raw: _Raw, key: str) -> Path | None:
    """The file a frame's path names (relative to the JSON, extension optional), or None if missing."""
    path = raw.json.parent / raw.frame[key]  # an absolute path stays itself
    if path.is_file():
        return path
    return next((p for p in (path.with_name(path.name + s) for s in _SUFFIXES) if p.is_file()), None)


def _find_images(raws: list[_Raw], options: LoadOptions) -> list[_Raw]:
    missing = []
    for r in raws:
        r.image = _resolve(r, "file_path")
        r.mask = _resolve(r, "mask_path") if "mask_path" in r.frame else None
        if r.image is None or ("mask_path" in r.frame and r.mask is None):
            missing.append(r)
    if missing and not options.skip_missing:
        _refuse_counted(missing, "a missing image (or mask) file", "file_path",
                        "check the paths, or skip those frames with skip_missing (--skip-missing)")
    if missing:
        warnings.warn(f"{missing[0].json}: skipping {len(missing)} frames whose image (or mask) file is "
                      f"missing, first: {missing[0].where}", stacklevel=4)
    kept = [r for r in raws if r not in set(missing)]
    if not kept:
        raise InputError("no frame has its image file", file=raws[0].json, field="frames",
                         fix="check that the images lie where file_path says, relative to the JSON")
    return kept


def _declared_size(raw: _Raw) -> tuple[int, int] | None:
    if "w" not in raw.params and "h" not in raw.params:
        return None
    w, h = raw.number("w"), raw.number("h")
    if w is None or h is None or w != round(w) or h != round(h) or w < 1 or h < 1:
        raise InputError(f"{raw.where}: declared size w={raw.params.get('w')!r}, h={raw.params.get('h')!r} "
                         "is not a pair of positive whole numbers", file=raw.json, field=raw.field("w"),
                         fix="give both w and h in pixels of the image files, or neither")
    return int(w), int(h)


def _header(path: Path, raw: _Raw) -> tuple[tuple[int, int], bool]:
    """(width, height) and whether it has alpha, from the image file's header (pixels are not decoded)."""
    from PIL import Image  # Pillow comes with imageio

    try:
        with Image.open(path) as im:
            return im.size, im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    except OSError as e:
        raise InputError(f"{raw.where}: cannot read the header of {path.name} ({e})", file=raw.json,
                         field=raw.field("file_path"), fix="replace the image file") from None


def _image_sizes(raws: list[_Raw]) -> tuple[dict[_Raw, tuple[int, int]], bool]:
    """Each frame's (W, H), declared and checked against one image header per declared size, or read from one
    header per JSON file; and whether those images have alpha."""
    sizes, header, rgba = {}, {}, False
    for r in raws:
        group = _declared_size(r) or r.json
        if group not in header:
            header[group], alpha = _header(r.image, r)
            rgba |= alpha
            if isinstance(group, tuple) and header[group] != group:
                raise InputError(f"{r.where}: declares {group[0]}x{group[1]} but {r.image.name} is "
                                 f"{header[group][0]}x{header[group][1]}", file=r.json, field=r.field("w"),
                                 fix="set w, h (and fl_x, cx, ...) for the image files as stored on disk")
        sizes[r] = header[group]
    return sizes, rgba


def _downscaled(r: _Raw, camera: Camera, n: int, headers: dict) -> tuple[Path, Path | None, Camera]:
    """With downscale N > 1, the same file name in a sibling `<folder>_N/` (nerfstudio's images_2/, masks_2/)
    when there is one, its camera resized to that file's size (one header per folder); else the full-size
    file, which images.py resizes."""
    siblings = [p and p.parent.with_name(f"{p.parent.name}_{n}") / p.name for p in (r.image, r.mask)]
    if n <= 1 or not all(p is None or p.is_file() for p in siblings):
        return r.image, r.mask, camera
    if siblings[0].parent not in headers:
        headers[siblings[0].parent] = _header(siblings[0], r)[0]
    return siblings[0], siblings[1], camera.resized(*headers[siblings[0].parent])


def _intrinsics(raw: _Raw, width: int, height: int) -> np.ndarray:
    fx, fy = raw.number("fl_x"), raw.number("fl_y")
    if fx is None and fy is None:  # fall back to fields of view
        ax, ay = raw.number("camera_angle_x"), raw.number("camera_angle_y")
        ax = ax if ax is not None or raw.number("x_fov") is None else math.radians(raw.number("x_fov"))
        ay = ay if ay is not None or raw.number("y_fov") is None else math.radians(raw.number("y_fov"))
        for angle, key in ((ax, "camera_angle_x"), (ay, "camera_angle_y")):
            if angle is not None and not 0 < angle < math.pi:
                raise InputError(f"{raw.where}: field of view {angle:g} rad is not in (0, pi)", file=raw.json,
                                 field=raw.field(key),
                                 fix="camera_angle_x/_y are in radians (x_fov/y_fov: degrees)")
        fx = None if ax is None else 0.5 * width / math.tan(ax / 2)
        fy = None if ay is None else 0.5 * height / math.tan(ay / 2)
    fx, fy = fx if fx is not None else fy, fy if fy is not None else fx
    if fx is None:
        raise InputError(f"{raw.where}: no focal length or field of view", file=raw.json, field="fl_x",
                         fix="give fl_x (pixels) or camera_angle_x (radians), at the top level or per frame")
    cx, cy = raw.number("cx"), raw.number("cy")
    cx, cy = width / 2 if cx is None else cx, height / 2 if cy is None else cy
    if fx <= 0 or fy <= 0 or not (0 < cx < width and 0 < cy < height):
        raise InputError(f"{raw.where}: fl_x={fx:g}, fl_y={fy:g}, cx={cx:g}, cy={cy:g} do not fit a "
                         f"{width}x{height} image", file=raw.json,
                         field=raw.field("cx" if fx > 0 and fy > 0 else "fl_x"),
                         fix="intrinsics are in pixels of the image files as stored; check w and h")
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], dtype=np.float64)


def _distortion(raw: _Raw) -> tuple[float, ...] | None:
    model = str(raw.params.get("camera_model", "OPENCV")).upper()
    if raw.params.get("is_fisheye"):
        model = "fisheye"
    if model not in ("OPENCV", "PINHOLE", "SIMPLE_PINHOLE"):
        raise InputError(f"{raw.where}: camera model {model} is not supported", file=raw.json,
                         field=raw.field("camera_model" if "camera_model" in raw.params else "is_fisheye"),
                         fix="undistort the images to a pinhole camera first (e.g. COLMAP image_undistorter)")
    k = [raw.number(key) or 0.0 for key in ("k1", "k2", "p1", "p2", "k3", "k4")]
    if not any(k):
        return None
    return tuple(k if any(k[4:]) else k[:4])


def _build(raws: list[_Raw], *, root: Path, fmt: str, options: LoadOptions, own_split: bool,
           scene_box) -> Capture:
    if not raws:
        raise InputError("no frames", file=root, field="frames", fix="list the views under 'frames'")
    _check_poses(raws)
    raws = _find_images(raws, options)
    sizes, rgba = _image_sizes(raws)
    frames, headers = [], {}
    for r in raws:
        width, height = sizes[r]
        name = (r.image.relative_to(r.json.parent) if r.image.is_relative_to(r.json.parent) else r.image)
        name = name.with_suffix("").as_posix()  # "train/r_0", "images/0001": what cameras:a,b may name
        K, distortion = _intrinsics(r, width, height), _distortion(r)
        try:
            camera = Camera.from_opengl(r.c2w_gl, width, height, K=K, time=r.time, name=name)
        except InputError as e:  # Camera's own checks, re-labelled with the file and frame
            raise InputError(f"{r.where}: {e.problem}", file=r.json, field=f"frames[{r.index}]",
                             fix=e.fix) from None
        image, mask, camera = _downscaled(r, camera, options.downscale, headers)
        frames.append(CaptureFrame(image_path=image, camera=camera, split=r.split, mask_path=mask,
                                   distortion=distortion))
    frames = _split_frames(tuple(frames), options.split, own_split=own_split, file=raws[0].json)
    up = _estimate_up([f.camera for f in frames])
    return Capture(root=root, format=fmt, frames=frames, up=up, scene_box=scene_box, rgba=rgba)
