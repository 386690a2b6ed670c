"""Read and write COLMAP sparse models (cameras, images, points3D) in COLMAP's text and binary formats.

Layouts follow colmap/colmap `doc/format.rst` (REFERENCE 1.6); binary files are little-endian. Values are
kept as COLMAP stores them (world-to-camera quaternion qw qx qy qz + t, camera model parameters); converting
them to ngfx's Camera is `colmap.py`'s job. The readers skip what no loader needs (2D keypoints, point tracks)
without storing it. A truncated or malformed file raises InputError naming the file and the record.
"""

import dataclasses
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ngfx.errors import InputError

__all__ = ["CAMERA_MODELS", "ColmapCamera", "ColmapImage", "ColmapModel", "read_model", "write_model"]

# model id -> (name, number of parameters); ids 5.. are listed only so that files using them can be parsed.
CAMERA_MODELS = {
    0: ("SIMPLE_PINHOLE", 3), 1: ("PINHOLE", 4), 2: ("SIMPLE_RADIAL", 4), 3: ("RADIAL", 5), 4: ("OPENCV", 8),
    5: ("OPENCV_FISHEYE", 8), 6: ("FULL_OPENCV", 12), 7: ("FOV", 5), 8: ("SIMPLE_RADIAL_FISHEYE", 4),
    9: ("RADIAL_FISHEYE", 5), 10: ("THIN_PRISM_FISHEYE", 12), 11: ("RAD_TAN_THIN_PRISM_FISHEYE", 16),
}
_MODEL_IDS = {name: (i, n) for i, (name, n) in CAMERA_MODELS.items()}
_READ_FIX = "check that the file exists and is readable"
_FIX = "re-export the model with COLMAP (`colmap model_converter`) or check that the copy is complete"


@dataclasses.dataclass(frozen=True)
class ColmapCamera:
    id: int
    model: str  # a name of CAMERA_MODELS
    width: int
    height: int
    params: tuple[float, ...]  # in COLMAP's order for the model (e.g. OPENCV: fx fy cx cy k1 k2 p1 p2)


@dataclasses.dataclass(frozen=True)
class ColmapImage:
    id: int
    qvec: tuple[float, float, float, float]  # world-to-camera rotation, Hamilton, (w, x, y, z)
    tvec: tuple[float, float, float]  # world-to-camera translation: X_cam = R(q) X_world + t (OpenCV frame)
    camera_id: int
    name: str  # path relative to the image folder
    points2d: np.ndarray | None = None  # [M, 3] (x, y, point3D_id); written when given, never read back


@dataclasses.dataclass(frozen=True)
class ColmapModel:
    cameras: dict[int, ColmapCamera]
    images: dict[int, ColmapImage]
    xyz: np.ndarray  # [P, 3] float64 world points (P may be 0)
    rgb: np.ndarray  # [P, 3] uint8
    files: dict[str, Path]  # "cameras" / "images" / "points3D" -> the file read (points3D absent if none)


def model_files(folder: Path) -> dict[str, Path] | None:
    """The model files in `folder` (binary preferred, per file), or None unless cameras and images exist."""
    files = {}
    for stem in ("cameras", "images", "points3D"):
        for ext in (".bin", ".txt"):
            if (folder / f"{stem}{ext}").is_file():
                files[stem] = folder / f"{stem}{ext}"
                break
    return files if {"cameras", "images"} <= files.keys() else None


def read_model(folder: Path) -> ColmapModel:
    """Read the model in `folder`; a missing points3D file gives an empty point cloud."""
    folder = Path(folder)
    files = model_files(folder)
    if files is None:
        raise InputError("no COLMAP model here (need cameras and images, .bin or .txt)", file=folder,
                         fix="point at the folder holding cameras.bin and images.bin (usually sparse/0)")
    read = {".bin": (_read_cameras_bin, _read_images_bin, _read_points_bin),
            ".txt": (_read_cameras_txt, _read_images_txt, _read_points_txt)}
    cameras = read[files["cameras"].suffix][0](files["cameras"])
    images = read[files["images"].suffix][1](files["images"])
    if "points3D" in files:
        xyz, rgb = read[files["points3D"].suffix][2](files["points3D"])
    else:
        xyz, rgb = np.zeros((0, 3)), np.zeros((0, 3), np.uint8)
    return ColmapModel(cameras, images, xyz, rgb, files)


# --- binary -----------------------------------------------------------------------------------------------
class _Bytes:
    """A cursor over a file's bytes whose reads raise InputError (naming `what`) when the file ends early."""

    def __init__(self, path: Path):
        self.path, self.data, self.at, self.what = path, _read_bytes(path), 0, "the record count"

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.at + size > len(self.data):
            raise InputError(f"the file ends early (truncated) while reading {self.what}", file=self.path,
                             fix=_FIX)
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += size
        return values

    def skip(self, size: int):
        self.take(f"{size}x")

    def name(self) -> str:
        end = self.data.find(b"\0", self.at)
        if end < 0:
            raise InputError(f"the file ends early (truncated) while reading {self.what}", file=self.path,
                             fix=_FIX)
        text, self.at = self.data[self.at:end].decode("utf-8", "replace"), end + 1
        return text


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror})", file=path, fix=_READ_FIX) from None


def _read_cameras_bin(path: Path) -> dict[int, ColmapCamera]:
    f, cameras = _Bytes(path), {}
    (n,) = f.take("Q")
    for k in range(n):
        f.what = f"camera {k + 1} of {n}"
        cam_id, model_id, width, height = f.take("iiQQ")
        if model_id not in CAMERA_MODELS:
            raise InputError(f"camera {cam_id} has unknown model id {model_id}", file=path, field="model",
                             fix="use a COLMAP camera model (PINHOLE, SIMPLE_RADIAL, OPENCV, ...)")
        name, n_params = CAMERA_MODELS[model_id]
        cameras[cam_id] = ColmapCamera(cam_id, name, width, height, f.take(f"{n_params}d"))
    return cameras


def _read_images_bin(path: Path) -> dict[int, ColmapImage]:
    f, images = _Bytes(path), {}
    (n,) = f.take("Q")
    for k in range(n):
        f.what = f"image {k + 1} of {n}"
        image_id, qw, qx, qy, qz, tx, ty, tz, camera_id = f.take("i7di")
        name = f.name()
        (m,) = f.take("Q")
        f.skip(24 * m)  # m x (f64 x, f64 y, i64 point3D_id)
        images[image_id] = ColmapImage(image_id, (qw, qx, qy, qz), (tx, ty, tz), camera_id, name)
    return images


def _read_points_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    f = _Bytes(path)
    (n,) = f.take("Q")
    if 51 * n > len(f.data):  # 51 bytes per point at least: a count this large means a cut or corrupt file
        raise InputError(f"the file says it holds {n} points but has only {len(f.data)} bytes (truncated)",
                         file=path, fix=_FIX)
    xyz, rgb = np.empty((n, 3)), np.empty((n, 3), np.uint8)
    for k in range(n):
        f.what = f"point {k + 1} of {n}"
        _, x, y, z, r, g, b, _, length = f.take("Q3d3BdQ")
        xyz[k], rgb[k] = (x, y, z), (r, g, b)
        f.skip(8 * length)  # length x (i32 image_id, i32 point2D_idx)
    return xyz, rgb


# --- text -------------------------------------------------------------------------------------------------
def _lines(path: Path) -> list[tuple[int, str]]:
    """(1-based line number, line) of every line that is not a comment."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise InputError(f"cannot read ({e.strerror})", file=path, fix=_READ_FIX) from None
    lines = (line.strip() for line in text.splitlines())
    return [(i + 1, line) for i, line in enumerate(lines) if not line.startswith("#")]


def _numbers(path: Path, number: int, words: Sequence[str], types: str, field: str) -> list:
    """Parse `words` with one type letter each (i int, f float); InputError on a short or bad line."""
    if len(words) < len(types):
        raise InputError(f"line {number} has {len(words)} values, expected at least {len(types)}", file=path,
                         field=field, fix=_FIX)
    try:
        return [int(w) if t == "i" else float(w) for w, t in zip(words, types)]
    except ValueError as e:
        raise InputError(f"line {number}: {e}", file=path, field=field, fix=_FIX) from None


def _read_cameras_txt(path: Path) -> dict[int, ColmapCamera]:
    cameras = {}
    for number, line in _lines(path):
        if not line:
            continue
        words = line.split()
        (cam_id,) = _numbers(path, number, words[:1], "i", "CAMERA_ID")
        model = words[1] if len(words) > 1 else ""
        n_params = _MODEL_IDS.get(model, (None, len(words) - 4))[1]
        width, height, *params = _numbers(path, number, words[2:], "ii" + "f" * n_params, "PARAMS")
        cameras[cam_id] = ColmapCamera(cam_id, model, width, height, tuple(params))
    return cameras


def _read_images_txt(path: Path) -> dict[int, ColmapImage]:
    """Two lines per image; the second (keypoints) may be empty, so it is taken whatever it holds."""
    images, lines, k = {}, _lines(path), 0
    while k < len(lines):
        number, line = lines[k]
        if not line:
            k += 1
            continue
        words = line.split(maxsplit=9)
        values = _numbers(path, number, words, "i" + "f" * 7 + "i", "IMAGE_ID..CAMERA_ID")
        image_id, qw, qx, qy, qz, tx, ty, tz, camera_id = values
        if len(words) < 10:
            raise InputError(f"line {number} has no image name", file=path, field="NAME", fix=_FIX)
        images[image_id] = ColmapImage(image_id, (qw, qx, qy, qz), (tx, ty, tz), camera_id, words[9].strip())
        k += 2  # skip the keypoint line
    return images


def _read_points_txt(path: Path) -> tuple[np.ndarray, np.ndarray]:
    xyz, rgb = [], []
    for number, line in _lines(path):
        if line:
            _, x, y, z, r, g, b = _numbers(path, number, line.split(), "ifffiii", "XYZ RGB")
            xyz.append((x, y, z))
            rgb.append((r, g, b))
    rgb = np.clip(np.array(rgb, np.int64), 0, 255).astype(np.uint8)
    return np.array(xyz, np.float64).reshape(-1, 3), rgb.reshape(-1, 3)


# --- writers ----------------------------------------------------------------------------------------------
def write_model(folder: Path, cameras: Sequence[ColmapCamera], images: Sequence[ColmapImage], xyz, rgb, *,
                binary: bool, tracks: Sequence[np.ndarray] | None = None) -> None:
    """Write cameras, images and points3D (.bin or .txt) into `folder` (created). `tracks`: optional per-point
    [L, 2] (image_id, point2D_idx) arrays; points get ids 1..P and a reprojection error of 0."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    xyz, rgb = np.asarray(xyz, np.float64).reshape(-1, 3), np.asarray(rgb, np.uint8).reshape(-1, 3)
    tracks = [np.asarray(t, np.int64).reshape(-1, 2) for t in tracks] if tracks is not None else \
        [np.zeros((0, 2), np.int64)] * len(xyz)
    if binary:
        _write_bin(folder, cameras, images, xyz, rgb, tracks)
    else:
        _write_txt(folder, cameras, images, xyz, rgb, tracks)


def _write_bin(folder, cameras, images, xyz, rgb, tracks):
    out = [struct.pack("<Q", len(cameras))]
    for c in cameras:
        out.append(struct.pack(f"<iiQQ{len(c.params)}d", c.id, _MODEL_IDS[c.model][0], c.width, c.height,
                               *c.params))
    (folder / "cameras.bin").write_bytes(b"".join(out))
    out = [struct.pack("<Q", len(images))]
    for im in images:
        pts = np.zeros((0, 3)) if im.points2d is None else np.asarray(im.points2d).reshape(-1, 3)
        out += [struct.pack("<i7di", im.id, *im.qvec, *im.tvec, im.camera_id), im.name.encode() + b"\0",
                struct.pack("<Q", len(pts))]
        out += [struct.pack("<ddq", x, y, int(pid)) for x, y, pid in pts]
    (folder / "images.bin").write_bytes(b"".join(out))
    out = [struct.pack("<Q", len(xyz))]
    for k, (p, c, t) in enumerate(zip(xyz, rgb, tracks)):
        out += [struct.pack("<Q3d3BdQ", k + 1, *p, *c, 0.0, len(t)), t.astype("<i4").tobytes()]
    (folder / "points3D.bin").write_bytes(b"".join(out))


def _write_txt(folder, cameras, images, xyz, rgb, tracks):
    lines = ["# Camera list with one line of data per camera:",
             "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]"]
    lines += [" ".join([str(c.id), c.model, str(c.width), str(c.height), *map(_num, c.params)])
              for c in cameras]
    (folder / "cameras.txt").write_text("\n".join(lines) + "\n")
    lines = ["# Image list with two lines of data per image:",
             "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME",
             "#   POINTS2D[] as (X, Y, POINT3D_ID)"]
    for im in images:
        pts = np.zeros((0, 3)) if im.points2d is None else np.asarray(im.points2d).reshape(-1, 3)
        lines.append(" ".join([str(im.id), *map(_num, im.qvec), *map(_num, im.tvec), str(im.camera_id),
                               im.name]))
        lines.append(" ".join(f"{_num(x)} {_num(y)} {int(pid)}" for x, y, pid in pts))
    (folder / "images.txt").write_text("\n".join(lines) + "\n")
    lines = ["# 3D point list with one line of data per point:",
             "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)"]
    for k, (p, c, t) in enumerate(zip(xyz, rgb, tracks)):
        lines.append(" ".join([str(k + 1), *map(_num, p), *(str(int(v)) for v in c), "0.0",
                               *(str(int(v)) for v in t.reshape(-1))]))
    (folder / "points3D.txt").write_text("\n".join(lines) + "\n")


def _num(value) -> str:
    return repr(float(value))  # shortest text that reads back to the same float64
