"""LLFF `poses_bounds.npy` + image folder -> Capture (REFERENCE 1.1, LLFF bullet; Mildenhall et al. 2019).

Format: `poses_bounds.npy` is float [N, 17]; row i is a camera-to-world 3x5 matrix flattened row-major, then
(near, far). Its columns are the rotation's axes in LLFF's [down, right, back] order, the camera centre, and
(H, W, f) of the full-resolution images. The OpenGL rotation (right, up, back) is [c1, -c0, c2]; ngfx's OpenCV
camera is made from it with `Camera.from_opengl`. near/far become Camera.near/far. The scene is kept in the
file's units (no rescaling by the bounds, unlike the NeRF training code).

Images: `images/`, or `images_N/` for `options.downscale = N` when it exists, sorted by file name and matched
to the rows by count. K is (f, f, W/2, H/2) scaled to the size of the first image file (read from its
header): f/N for `images_N/`, up to rounding. A Camera's K therefore always describes the file its frame
names.

Up is estimated from the cameras as for COLMAP; split "auto" holds out every 8th view (0, 8, ...), as LLFF
does.
"""

from pathlib import Path

import numpy as np

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.captures.capture import Capture, CaptureFrame, LoadOptions, assign_splits, estimate_up
from ngfx.scenes.captures.colmap import fit_to_file, image_folder

__all__ = ["IMAGE_SUFFIXES", "load_llff"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")  # any case; other files in the image folder are ignored


def load_llff(folder: Path, options: LoadOptions) -> Capture:
    """Load an LLFF scene (module docstring for the format and conventions); pixels are not read."""
    folder = Path(folder)
    path = folder / "poses_bounds.npy"
    rows = _read_poses_bounds(path)
    image_dir, _ = image_folder(folder, options.downscale, beside="poses_bounds.npy")
    files = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and
                   not p.name.startswith("."))
    if len(files) != len(rows):
        raise InputError(f"{len(rows)} poses but {len(files)} images in {image_dir.name}/", file=path,
                         field="rows", fix=f"make {image_dir.name}/ hold exactly the images the poses were "
                         "computed from (rows match images in name order)")
    splits = assign_splits([p.name for p in files], options.split)
    frames = []
    fitted = None  # the first camera fitted to the first file: all rows share (H, W) and files one size
    for k, (row, file, split) in enumerate(zip(rows, files, splits)):
        camera = _camera(row, k, path, file.name)
        fitted = fitted or fit_to_file(camera, files[0])
        if (camera.width, camera.height) != (fitted.width, fitted.height):
            camera = camera.resized(fitted.width, fitted.height)
        frames.append(CaptureFrame(file, camera, split))
    up = estimate_up([f.camera for f in frames])
    return Capture(root=folder, format="llff", frames=tuple(frames), up=up)


def _read_poses_bounds(path: Path) -> np.ndarray:
    if not path.is_file():
        raise InputError("the LLFF pose file is missing", file=path,
                         fix="run LLFF's imgs2poses.py (or COLMAP and load sparse/ instead)")
    try:
        rows = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise InputError(f"not a readable .npy array ({e})", file=path,
                         fix="regenerate it with imgs2poses.py") from None
    numeric = np.issubdtype(rows.dtype, np.number)
    if rows.ndim != 2 or rows.shape[1] != 17 or rows.shape[0] == 0 or not numeric:
        raise InputError(f"array has shape {rows.shape} and dtype {rows.dtype}; LLFF needs numbers of shape "
                         "[N, 17] (3x5 pose + near, far per image)", file=path, field="shape",
                         fix="regenerate it with imgs2poses.py")
    bad = np.flatnonzero(~np.isfinite(rows).all(axis=1))
    if len(bad):
        raise InputError(f"{len(bad)} rows hold NaN or infinite values, the first is row {bad[0]}", file=path,
                         field=f"rows[{bad[0]}]",
                         fix="remove the failed views and their images, or recompute the poses")
    return rows.astype(np.float64)


def _camera(row: np.ndarray, k: int, path: Path, name: str) -> Camera:
    """The full-resolution OpenCV camera of one row."""
    pose = row[:15].reshape(3, 5)
    c0, c1, c2 = pose[:, 0], pose[:, 1], pose[:, 2]  # LLFF: down, right, back
    rotation_gl = np.stack([c1, -c0, c2], axis=1)  # OpenGL: right, up, back
    if not np.allclose(rotation_gl.T @ rotation_gl, np.eye(3), atol=1e-3) or np.linalg.det(rotation_gl) < 0:
        raise InputError(f"row {k}'s rotation is not a rotation (axes not orthonormal, or mirrored)",
                         file=path, field=f"rows[{k}]", fix="regenerate the file with imgs2poses.py")
    height, width, f = pose[:, 4]
    near, far = row[15:17]
    if not (0 < near < far) or f <= 0 or min(height, width) < 1:
        raise InputError(f"row {k} has H={height:g} W={width:g} f={f:g} near={near:g} far={far:g}; need "
                         "positive sizes and focal, and 0 < near < far", file=path, field=f"rows[{k}]",
                         fix="regenerate the file with imgs2poses.py")
    T_world_camera_gl = np.eye(4)
    T_world_camera_gl[:3, :3], T_world_camera_gl[:3, 3] = rotation_gl, pose[:, 3]
    width, height = int(np.rint(width)), int(np.rint(height))
    K = np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])
    return Camera.from_opengl(T_world_camera_gl, width, height, K=K, near=float(near), far=float(far),
                              name=name)
