"""What every capture loader returns: frames (image file + Camera in ngfx's OpenCV convention + split, time,
mask, distortion) and optional initial points. Pixels are read later, on demand (`images.py`).

Conventions (ngfx/scenes/camera.py is the one page): `Camera.T_camera_world` is OpenCV world-to-camera, K in
pixels with pixel centres at +0.5, sized for the image file `image_path` names (an `images_N/` file when the
loader picked a pre-downscaled folder, else the full-resolution file). Loaders
convert from their format at load time and nowhere else. `Camera.time` is the frame's time in seconds
(dynamic captures) or None (static). Distortion, where a format has it, is the OpenCV model
(k1, k2, p1, p2, k3, k4) on the frame; images are undistorted once when read, and the returned Camera is
then the pinhole camera of the undistorted image.
"""

import dataclasses
import json
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera

__all__ = ["Capture", "CaptureFrame", "LoadOptions", "SPLITS", "assign_splits", "estimate_up",
           "mean_camera_up", "read_json_object"]

SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class CaptureFrame:
    """One view: the image file, its camera, the split it belongs to, and what else the format gives."""

    image_path: Path
    camera: Camera  # OpenCV world-to-camera, K for the file image_path names; camera.time set when dynamic
    split: str = "train"  # one of SPLITS
    mask_path: Path | None = None  # foreground mask image (white = foreground), same size as the image
    distortion: tuple[float, ...] | None = None  # OpenCV (k1, k2, p1, p2[, k3, k4]); None = pinhole
    camera_id: str = ""  # a stable id of the physical camera (multi-camera rigs, COLMAP camera id, ...)


@dataclasses.dataclass(frozen=True)
class Capture:
    """A multi-view capture in ngfx's convention, pixels not yet read.

    format: the loader's name ("transforms", "blender", "dnerf", "colmap", "llff", "panoptic").
    points / point_colors: an initial point cloud [P, 3] world / [P, 3] uint8 when the format has one.
    up: the world's estimated up vector (unit) for viewers and orbits.
    scene_box: optional (min, max) world bounds the format declares (e.g. instant-ngp's aabb_scale).
    rgba: the images carry alpha (Blender / D-NeRF): composite them on LoadOptions.background.
    detection: how `load_capture` chose the format when the folder held several ("" when it did not).
    """

    root: Path
    format: str
    frames: tuple[CaptureFrame, ...]
    points: np.ndarray | None = None
    point_colors: np.ndarray | None = None
    up: tuple[float, float, float] = (0.0, 1.0, 0.0)
    scene_box: tuple[np.ndarray, np.ndarray] | None = None
    rgba: bool = False
    detection: str = ""

    @property
    def is_dynamic(self) -> bool:
        return any(f.camera.time is not None for f in self.frames)

    def split(self, name: str) -> tuple[CaptureFrame, ...]:
        return tuple(f for f in self.frames if f.split == name)


@dataclasses.dataclass(frozen=True)
class LoadOptions:
    """User options shared by every loader (the flags of `ngfx train`)."""

    downscale: int = 1  # use images_N/ when the format has it, else resize by 1/N (K scaled to match)
    split: str = "auto"  # "auto": the format's own split, else every 8th view; "every:N"; "cameras:a,b"
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)  # RGBA images are composited on this
    skip_missing: bool = False  # drop frames whose image is missing or unreadable (warn with a count)


def read_json_object(path: Path) -> dict:
    """A JSON file whose top level is an object; InputError naming the file (and line/column if malformed)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", file=path, fix="check the path to the capture's JSON") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the JSON file ({e})", file=path) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}", file=path,
                         fix="fix the JSON syntax there") from None
    if not isinstance(data, dict):
        raise InputError("expected a JSON object at the top level", file=path)
    return data


def mean_camera_up(cameras) -> np.ndarray:
    """The mean of the cameras' up axes (-y in OpenCV) in world coordinates, not normalised: its length
    (<= 1) says how much the cameras agree."""
    downs = np.stack([np.asarray(c.T_camera_world, dtype=np.float64)[1, :3] for c in cameras])  # row 1 of R
    return -downs.mean(axis=0)


def estimate_up(cameras) -> tuple[float, float, float]:
    """Unit world up of a capture whose world has no up axis (COLMAP, LLFF, Panoptic): the mean camera up,
    or the first camera's up when the cameras point every way."""
    up = mean_camera_up(cameras)
    if np.linalg.norm(up) < 1e-6:
        up = mean_camera_up(cameras[:1])
    return tuple(float(v) for v in up / np.linalg.norm(up))


def assign_splits(views: Sequence[str | Collection[str]], split: str, *, file=None, every: int = 8,
                  strict: bool = False) -> list[str]:
    """"train"/"val" per view (in the given order) for LoadOptions.split: "auto" (every `every`-th view,
    starting with the first, is "val"), "every:N" (the same with N >= 2), or "cameras:a,b" (the views a
    listed word names). A view is given as its name, which "cameras:" matches whole or by its stem, or as
    the set of words that name it. "auto" and "every:N" never hold out a single view.

    `strict` keeps the NeRF-JSON loaders' reading (COLMAP and LLFF use the default): N in plain digits only
    (else N is read as int() reads it, so "every: 8" is 8), and their wording of errors, in which a bad N
    or a "cameras:" naming nothing is an unknown split."""
    if split == "auto":
        n = every
    elif split.startswith("every:"):
        n = _every_n(split, file, strict)
    elif split.startswith("cameras:"):
        return _held_by_name(views, split, file, strict)
    else:
        raise _unknown_split(split, file, strict)
    if len(views) < 2:  # nothing to hold out a view from
        return ["train"] * len(views)
    return ["val" if k % n == 0 else "train" for k in range(len(views))]


def _unknown_split(split: str, file, strict: bool) -> InputError:
    fix = "use auto, every:N (N >= 2) or cameras:a,b" if strict else "use auto, every:N or cameras:a,b"
    return InputError(f"unknown split '{split}'", file=file, field="split", fix=fix)


def _every_n(split: str, file, strict: bool) -> int:
    arg = split[len("every:"):]
    if strict:
        if arg.isdigit() and int(arg) >= 2:
            return int(arg)
        raise _unknown_split(split, file, strict)
    try:
        n = int(arg)
    except ValueError:
        n = 0
    if n < 2:
        raise InputError(f"split '{split}' needs a whole number N >= 2", file=file, field="split",
                         fix="use e.g. --split every:8")
    return n


def _held_by_name(views, split: str, file, strict: bool) -> list[str]:
    """"cameras:a,b": "val" for the views one of the listed words names, every word naming some view."""
    wanted = {w.strip() for w in split[len("cameras:"):].split(",") if w.strip()}
    keys = [{v, Path(v).stem} if isinstance(v, str) else set(v) for v in views]
    unknown = sorted(wanted - set().union(*keys))
    if strict and not wanted:
        raise _unknown_split(split, file, strict)
    if not wanted or unknown:
        problem, example = (("names views that are not in this capture", "cameras:r_0,r_8") if strict else
                            ("names no view or unknown views", "--split cameras:0001,0009"))
        raise InputError(f"split '{split}' {problem} ({', '.join(unknown[:3])})", file=file, field="split",
                         fix=f"list image names or stems, e.g. {example}")
    return ["val" if k & wanted else "train" for k in keys]
