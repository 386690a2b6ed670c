"""One frame of a NeRF-style camera JSON (nerf_json.py) on its way to a `CaptureFrame`: the record read from
the file (`RawFrame`), the checks on its pose and files, and its camera parameters: the image size (declared,
or read from the image file's header), a pre-downscaled sibling file, the intrinsics and the distortion.
The conventions are those of nerf_json's docstring.
"""

import dataclasses
import math
import warnings
from pathlib import Path

import numpy as np

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.captures.capture import LoadOptions

__all__ = ["RawFrame", "check_poses", "distortion", "downscaled", "find_images", "image_sizes", "intrinsics"]

_SUFFIXES = (".png", ".jpg", ".jpeg", ".PNG", ".JPG", ".JPEG", ".exr", ".webp")


@dataclasses.dataclass(eq=False)  # compared and hashed by identity
class RawFrame:
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


def _refuse_counted(bad: list[RawFrame], what: str, field: str, fix: str):
    """One InputError counting the bad frames and naming the first, if there are any."""
    if bad:
        first, have = bad[0], "frames have" if len(bad) > 1 else "frame has"
        raise InputError(f"{len(bad)} {have} {what}, first: {first.where}", file=first.json,
                         field=f"frames[{first.index}].{field}", fix=fix)


# --- poses and files ---------------------------------------------------------------------------------------

def _is_rigid(T: np.ndarray) -> bool:
    R = T[:3, :3]  # loose tolerance: float32 round-off in real files, not scale or shear
    return bool(np.abs(R.T @ R - np.eye(3)).max() < 1e-2 and np.linalg.det(R) > 0)


def check_poses(raws: list[RawFrame]):
    """Refuse non-finite or non-rigid transform_matrix, and a time on some frames but not all."""
    _refuse_counted([r for r in raws if not np.isfinite(r.c2w_gl).all()], "non-finite transform_matrix",
                    "transform_matrix", "fix or remove those frames")
    _refuse_counted([r for r in raws if not _is_rigid(r.c2w_gl)], "a transform_matrix that is not a rotation "
                    "and translation (scaled, sheared or mirrored)", "transform_matrix",
                    "give camera-to-world matrices with an orthonormal, right-handed rotation")
    timed = [r for r in raws if r.time is not None]
    if timed and len(timed) < len(raws):
        _refuse_counted([r for r in raws if r.time is None], f"no time while {len(timed)} others do", "time",
                        "give every frame a time (D-NeRF: in [0, 1]) or none")


def _resolve(raw: RawFrame, key: str) -> Path | None:
    """The file a frame's path names (relative to the JSON, extension optional), or None if missing."""
    path = raw.json.parent / raw.frame[key]  # an absolute path stays itself
    if path.is_file():
        return path
    return next((p for p in (path.with_name(path.name + s) for s in _SUFFIXES) if p.is_file()), None)


def find_images(raws: list[RawFrame], options: LoadOptions) -> list[RawFrame]:
    """The frames whose image (and mask) file exists, with `image` and `mask` set; the others refused, or
    with skip_missing dropped with one warning."""
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


# --- image sizes -------------------------------------------------------------------------------------------

def _declared_size(raw: RawFrame) -> tuple[int, int] | None:
    if "w" not in raw.params and "h" not in raw.params:
        return None
    w, h = raw.number("w"), raw.number("h")
    if w is None or h is None or w != round(w) or h != round(h) or w < 1 or h < 1:
        raise InputError(f"{raw.where}: declared size w={raw.params.get('w')!r}, h={raw.params.get('h')!r} "
                         "is not a pair of positive whole numbers", file=raw.json, field=raw.field("w"),
                         fix="give both w and h in pixels of the image files, or neither")
    return int(w), int(h)


def _header(path: Path, raw: RawFrame) -> tuple[tuple[int, int], bool]:
    """(width, height) and whether it has alpha, from the image file's header (pixels are not decoded)."""
    from PIL import Image  # Pillow comes with imageio

    try:
        with Image.open(path) as im:
            return im.size, im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    except OSError as e:
        raise InputError(f"{raw.where}: cannot read the header of {path.name} ({e})", file=raw.json,
                         field=raw.field("file_path"), fix="replace the image file") from None


def image_sizes(raws: list[RawFrame]) -> tuple[dict[RawFrame, tuple[int, int]], bool]:
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


def downscaled(r: RawFrame, camera: Camera, n: int, headers: dict) -> tuple[Path, Path | None, Camera]:
    """With downscale N > 1, the same file name in a sibling `<folder>_N/` (nerfstudio's images_2/, masks_2/)
    when there is one, its camera resized to that file's size (one header per folder); else the full-size
    file, which images.py resizes."""
    siblings = [p and p.parent.with_name(f"{p.parent.name}_{n}") / p.name for p in (r.image, r.mask)]
    if n <= 1 or not all(p is None or p.is_file() for p in siblings):
        return r.image, r.mask, camera
    if siblings[0].parent not in headers:
        headers[siblings[0].parent] = _header(siblings[0], r)[0]
    return siblings[0], siblings[1], camera.resized(*headers[siblings[0].parent])


# --- camera parameters -------------------------------------------------------------------------------------

def _focal_from_fov(raw: RawFrame, width: int, height: int) -> tuple[float | None, float | None]:
    """(fx, fy) from camera_angle_x/_y (radians), else x_fov/y_fov (degrees); None where neither is given."""
    ax, ay = raw.number("camera_angle_x"), raw.number("camera_angle_y")
    ax = ax if ax is not None or raw.number("x_fov") is None else math.radians(raw.number("x_fov"))
    ay = ay if ay is not None or raw.number("y_fov") is None else math.radians(raw.number("y_fov"))
    for angle, key in ((ax, "camera_angle_x"), (ay, "camera_angle_y")):
        if angle is not None and not 0 < angle < math.pi:
            raise InputError(f"{raw.where}: field of view {angle:g} rad is not in (0, pi)", file=raw.json,
                             field=raw.field(key),
                             fix="camera_angle_x/_y are in radians (x_fov/y_fov: degrees)")
    return (None if ax is None else 0.5 * width / math.tan(ax / 2),
            None if ay is None else 0.5 * height / math.tan(ay / 2))


def intrinsics(raw: RawFrame, width: int, height: int) -> np.ndarray:
    """K in pixels of a width x height image: fl_x/fl_y (one serves both axes) or the fields of view, and
    cx, cy (default: the image centre)."""
    fx, fy = raw.number("fl_x"), raw.number("fl_y")
    if fx is None and fy is None:
        fx, fy = _focal_from_fov(raw, width, height)
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


def distortion(raw: RawFrame) -> tuple[float, ...] | None:
    """OpenCV (k1, k2, p1, p2[, k3, k4]), or None when all are zero; fisheye and other models are refused."""
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
