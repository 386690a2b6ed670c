"""COLMAP sparse reconstruction + image folder -> Capture (REFERENCE 1.6).

Layout: the model (cameras, images, points3D as .bin or .txt, binary preferred) in `sparse/0/`, `sparse/`
or the folder itself; the images in `images/`, named as in the model (sub-folders allowed).

Conventions: COLMAP poses are world-to-camera, X_cam = R(q) X_world + t with a Hamilton quaternion stored
(qw, qx, qy, qz), in the OpenCV camera frame, and COLMAP puts pixel centres at +0.5 - ngfx's convention, so
`T_camera_world = [R(q) | t]` and K are taken as they are, with no flip. Distortion (SIMPLE_RADIAL, RADIAL,
OPENCV) goes on the frame in OpenCV (k1, k2, p1, p2) order; other camera models are refused (undistort with
`colmap image_undistorter`, which writes PINHOLE).

Downscale: with `options.downscale = N` and an `images_N/` folder, frames point at the files in `images_N/`
and K is scaled to their size (read from the first file's header per COLMAP camera; 1/N up to rounding): a
Camera's K always describes the image file the frame names. Without `images_N/`, frames keep `images/` and the
full-resolution K, and the image reader resizes both.

Up: COLMAP worlds have no fixed orientation, so `up` is estimated as the negative mean of the cameras'
image-down (+y) axes in world coordinates (people mostly hold cameras upright).

Split ("auto"): every 8th image in name order (0, 8, 16, ...) is "val", the LLFF / mip-NeRF 360 / INRIA
hold-out.
"""

import warnings
from pathlib import Path

import numpy as np

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.captures.capture import Capture, CaptureFrame, LoadOptions, assign_splits, estimate_up
from ngfx.scenes.captures.colmap_io import ColmapCamera, ColmapImage, model_files, read_model
from ngfx.scenes.transforms import quat_to_matrix

__all__ = ["assign_splits", "estimate_up", "find_model", "fit_to_file", "image_folder", "load_colmap"]

_SUPPORTED = ("SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV")


def find_model(folder: Path) -> Path:
    """The folder holding the sparse model: `sparse/0/`, `sparse/` or `folder` itself, in that order."""
    folder = Path(folder)
    for candidate in (folder / "sparse" / "0", folder / "sparse", folder):
        if model_files(candidate) is not None:
            return candidate
    raise InputError("no COLMAP model found (looked in sparse/0/, sparse/ and the folder for cameras.bin and "
                     "images.bin, or .txt)", file=folder,
                     fix="run COLMAP's mapper, or point at the scene folder that holds sparse/0/")


def load_colmap(folder: Path, options: LoadOptions) -> Capture:
    """Load a COLMAP scene (module docstring for layout and conventions); pixels are not read."""
    folder = Path(folder)
    model = read_model(find_model(folder))
    if not model.images:
        raise InputError("the model has no images", file=model.files["images"],
                         fix="re-run COLMAP's mapper; the reconstruction registered no image")
    image_dir, factor = image_folder(folder, options.downscale, beside="sparse/")
    images = sorted(model.images.values(), key=lambda im: im.name)
    splits = assign_splits([im.name for im in images], options.split)
    images, splits = _drop_missing(images, splits, image_dir, options.skip_missing)
    scaled = {}  # COLMAP camera id -> its camera fitted to the downscaled files
    frames = []
    for im, split in zip(images, splits):
        cam = _checked_camera(model, im)
        camera, distortion = _camera(cam, im, model.files)
        if factor > 1:  # one header per COLMAP camera: its images share a size
            if cam.id not in scaled:
                scaled[cam.id] = fit_to_file(camera, image_dir / im.name)
            camera = camera.resized(scaled[cam.id].width, scaled[cam.id].height)
        frames.append(CaptureFrame(image_dir / im.name, camera, split, distortion=distortion,
                                   camera_id=str(cam.id)))
    return Capture(root=folder, format="colmap", frames=tuple(frames), points=model.xyz,
                   point_colors=model.rgb, up=estimate_up([f.camera for f in frames]))


def image_folder(folder: Path, downscale: int, *, beside: str) -> tuple[Path, int]:
    """(image folder, factor its files are downscaled by): `images_N/` when N = downscale > 1 and it exists,
    else `images/`; `beside` names what the folder sits next to, for the error message."""
    if not isinstance(downscale, (int, np.integer)) or downscale < 1:
        raise InputError(f"downscale must be a whole number >= 1, got {downscale!r}", field="downscale",
                         fix="pass --downscale 1, 2, 4 or 8")
    if downscale > 1 and (folder / f"images_{downscale}").is_dir():
        return folder / f"images_{downscale}", downscale
    if not (folder / "images").is_dir():
        raise InputError("the image folder is missing", file=folder / "images",
                         fix=f"put the images in images/ beside {beside}")
    return folder / "images", 1


def _checked_camera(model, im: ColmapImage) -> ColmapCamera:
    cam = model.cameras.get(im.camera_id)
    if cam is None:
        raise InputError(f"image '{im.name}' uses camera {im.camera_id}, which is not in the model",
                         file=model.files["images"], field="CAMERA_ID", fix="re-export the model from COLMAP")
    if cam.model not in _SUPPORTED:
        raise InputError(f"camera {cam.id} uses the {cam.model} model, which ngfx does not read "
                         f"(supported: {', '.join(_SUPPORTED)})", file=model.files["cameras"], field="MODEL",
                         fix="undistort with `colmap image_undistorter` (it writes PINHOLE) and load that")
    return cam


def _camera(cam: ColmapCamera, im: ColmapImage, files: dict) -> tuple[Camera, tuple[float, ...] | None]:
    """ngfx Camera (OpenCV, taken as is) and OpenCV-ordered distortion of one COLMAP image."""
    p = cam.params
    if cam.model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
        fx = fy = p[0]
        cx, cy, k = p[1], p[2], (*p[3:], 0.0, 0.0, 0.0, 0.0)[:4]  # SIMPLE_RADIAL k / RADIAL k1 k2, p = 0
    else:  # PINHOLE, OPENCV
        fx, fy, cx, cy, k = *p[:4], (*p[4:8], 0.0, 0.0, 0.0, 0.0)[:4]
    q, t = np.asarray(im.qvec, np.float64), np.asarray(im.tvec, np.float64)
    if not (np.isfinite(q).all() and np.isfinite(t).all()) or np.linalg.norm(q) < 1e-12:
        raise InputError(f"image '{im.name}' has a non-finite or zero pose (q={im.qvec}, t={im.tvec})",
                         file=files["images"], field="QW QX QY QZ TX TY TZ",
                         fix="remove the image from the model or re-run the mapper")
    T_camera_world = np.eye(4)
    T_camera_world[:3, :3], T_camera_world[:3, 3] = quat_to_matrix(q), t
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    try:
        camera = Camera(K=K, width=int(cam.width), height=int(cam.height), T_camera_world=T_camera_world,
                        name=im.name)
    except InputError as e:
        raise InputError(f"camera {cam.id}: {e.problem}", file=files["cameras"], field="PARAMS", fix=e.fix) \
            from None
    return camera, (tuple(float(v) for v in k) if any(k) else None)


def fit_to_file(camera: Camera, path: Path) -> Camera:
    """`camera` resized to the size of the image file at `path` (read from its header, no pixels decoded),
    which must have the camera's aspect ratio to within a pixel."""
    from PIL import Image  # imageio's dependency

    try:
        with Image.open(path) as image:
            width, height = image.size
    except OSError as e:
        raise InputError(f"cannot read the image header ({e})", file=path,
                         fix="replace the damaged image") from None
    if abs(width * camera.height / camera.width - height) > 1:
        raise InputError(f"image is {width}x{height}, which is not the {camera.width}x{camera.height} camera "
                         "scaled", file=path,
                         fix="use the images the poses were computed from, or regenerate the smaller copies")
    return camera if (width, height) == (camera.width, camera.height) else camera.resized(width, height)


def _drop_missing(images, splits, image_dir: Path, skip_missing: bool):
    """Drop images whose file is missing (with skip_missing, one warning), else raise naming the first."""
    present = [(image_dir / im.name).is_file() for im in images]
    missing = [im.name for im, ok in zip(images, present) if not ok]
    if missing and not skip_missing:
        raise InputError(f"{len(missing)} of {len(images)} images the model lists are missing, the first is "
                         f"'{missing[0]}'", file=image_dir / missing[0], field="NAME",
                         fix="copy the images into the folder, or pass --skip-missing to drop them")
    if missing:
        if len(missing) == len(images):
            raise InputError(f"none of the {len(images)} images the model lists is in the folder",
                             file=image_dir, field="NAME",
                             fix="point at the scene folder whose images/ holds them")
        warnings.warn(f"{image_dir}: skipped {len(missing)} of {len(images)} images that are missing "
                      f"(first: '{missing[0]}')", stacklevel=3)
    return [im for im, ok in zip(images, present) if ok], [s for s, ok in zip(splits, present) if ok]

