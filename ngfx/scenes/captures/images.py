"""Pixels for capture frames: read, composite, undistort and downscale, with the Camera kept matching.

`load_frame_image` reads one frame: float32 RGB in [0, 1] (8-bit, 16-bit, float, grayscale, palette and
1-bit files alike; Pillow reads 16-bit *RGB* PNGs at 8 bits), composited on `LoadOptions.background`
where the file has alpha (the alpha is kept: for Blender-style data it is the foreground mask), the
frame's mask image as float32 [H, W], and the Camera of exactly the returned pixels:

- distortion: undistorted once, at the file's resolution, by `ngfx.scenes.captures.undistort`
  (alpha and mask with it), and the camera becomes that module's pinhole camera;
- downscale N: a file already at 1/N of its camera's size (an `images_N/` folder) only scales K; a
  full-size file is area-averaged over N x N blocks after cropping its right and bottom edges to a
  multiple of N, which keeps the scale exactly 1/N, so the pixel centre (i+0.5, j+0.5) maps to
  ((i+0.5)/N, (j+0.5)/N) (`Camera.resized` of the cropped camera).

`load_images` reads a whole split, counts every unreadable file and every size that disagrees with its
camera or with the other images of its camera id, and raises one InputError naming the first (or, with
`LoadOptions.skip_missing`, drops them with one warning). It holds every image in memory (float32: a
640x360 Panoptic frame is 2.7 MB, all 2700 of them 7.5 GB); large dynamic captures should call
`load_frame_image` per frame on demand instead.
"""

import collections
import concurrent.futures
import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.captures.capture import SPLITS, Capture, CaptureFrame, LoadOptions

__all__ = ["FrameImage", "load_frame_image", "load_images"]

_PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
_SKIP_FIX = "fix or remove those files, or skip them (LoadOptions.skip_missing, --skip-missing)"


@dataclasses.dataclass(frozen=True, eq=False)
class FrameImage:
    """One frame's pixels (CPU tensors, row 0 at the top) and the camera that matches them."""

    rgb: torch.Tensor  # float32 [H, W, 3] in [0, 1], composited on the background where there was alpha
    camera: Camera  # width x height == W x H; pinhole (undistorted); K scaled with any downscale
    alpha: torch.Tensor | None = None  # float32 [H, W] in [0, 1]: the file's alpha (ones if rgba and none)
    mask: torch.Tensor | None = None  # float32 [H, W] in [0, 1] from frame.mask_path (white = foreground)
    frame: CaptureFrame | None = None  # where it came from (split, camera_id, paths)


class _FrameProblem(Exception):
    """Why one frame cannot be used: kind "unreadable" or "size", and a short reason."""

    def __init__(self, kind: str, path: Path, reason: str):
        super().__init__(reason)
        self.kind, self.path, self.reason = kind, path, reason


def load_frame_image(frame: CaptureFrame, options: LoadOptions | None = None, *,
                     rgba: bool = False) -> FrameImage:
    """The pixels of one frame (module docstring); `rgba` promises an alpha (ones when the file has none).
    InputError naming the file when it cannot be read or its size does not match its camera."""
    try:
        return _load(frame, options or LoadOptions(), rgba)
    except _FrameProblem as e:
        what = "could not be read" if e.kind == "unreadable" else "has the wrong size"
        raise InputError(f"image {what} ({e.reason})", file=e.path) from None


def load_images(capture: Capture, split: str | None, options: LoadOptions | None = None) -> list[FrameImage]:
    """Every frame of `split` (None: all frames) in capture order, read on a few threads (module docstring).
    Images with alpha when `capture.rgba`."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")
    options = options or LoadOptions()
    frames = capture.frames if split is None else capture.split(split)
    workers = min(8, os.cpu_count() or 1, max(1, len(frames)))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda f: _load_or_problem(f, options, capture.rgba), frames))
    results = _flag_odd_sizes(results)
    problems = [r for r in results if isinstance(r, _FrameProblem)]
    if problems:
        summary = _summary(problems, capture.root)
        if not options.skip_missing:
            raise InputError(summary, fix=_SKIP_FIX)
        kept = len(results) - len(problems)
        if kept == 0:
            raise InputError(f"no usable images left in the {split or 'whole'} split: {summary}",
                             fix=_SKIP_FIX)
        warnings.warn(f"skipped {len(problems)} of {len(results)} images: {summary}", stacklevel=2)
    return [r for r in results if not isinstance(r, _FrameProblem)]


def _load_or_problem(frame: CaptureFrame, options: LoadOptions, rgba: bool):
    try:
        return _load(frame, options, rgba)
    except _FrameProblem as e:
        return e


def _load(frame: CaptureFrame, options: LoadOptions, rgba: bool) -> FrameImage:
    """Read -> composite -> undistort -> downscale, in that order (alpha and mask follow the rgb)."""
    pixels = _read_float(frame.image_path)
    height, width = pixels.shape[:2]
    camera, downscale = _camera_for_file(frame, width, height, options.downscale)
    rgb, alpha = _split_alpha(pixels)
    if alpha is not None:  # straight (not premultiplied) alpha, as PNG stores it
        rgb = rgb * alpha[..., None] + np.asarray(options.background, np.float32) * (1 - alpha[..., None])
    elif rgba:
        alpha = np.ones((height, width), np.float32)
    mask = None
    if frame.mask_path is not None:
        mask = _read_float(frame.mask_path)[..., 0]
        if mask.shape != (height, width):
            raise _FrameProblem("size", frame.mask_path, f"mask is {mask.shape[1]}x{mask.shape[0]}, "
                                                         f"image is {width}x{height}")
    planes = [rgb] + [p[..., None] for p in (alpha, mask) if p is not None]
    stacked = np.concatenate(planes, axis=-1)
    if frame.distortion is not None:
        stacked, camera = _undistort(stacked, camera, frame.distortion)
    if downscale > 1:
        stacked, camera = _downscale(stacked, camera, downscale, frame.image_path)
    stacked = torch.from_numpy(np.ascontiguousarray(stacked, dtype=np.float32))
    extra = iter(stacked[..., 3 + i].contiguous() for i in range(stacked.shape[-1] - 3))
    alpha = next(extra) if alpha is not None else None
    mask = next(extra) if mask is not None else None
    return FrameImage(rgb=stacked[..., :3].contiguous(), camera=camera, alpha=alpha, mask=mask, frame=frame)


def _read_float(path: Path) -> np.ndarray:
    """float32 [H, W, C] (C = 1..4) in [0, 1]; 8-bit /255, other integers (16-bit PNG/TIFF) /65535."""
    import imageio.v3 as iio

    # Pillow directly for the common formats: imageio's fallback plugins only add noise to the error
    plugin = "pillow" if path.suffix.lower() in _PILLOW_SUFFIXES else None
    try:
        image = np.asarray(iio.imread(path, plugin=plugin))
    except Exception as e:  # noqa: BLE001 - broken files raise OSError, SyntaxError, zlib/struct errors...
        raise _FrameProblem("unreadable", path, _reason(path, e)) from None
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] > 4 or image.size == 0:
        raise _FrameProblem("unreadable", path, f"unexpected pixel array shape {image.shape}")
    if image.dtype == np.bool_ or image.dtype == np.uint8:
        return image.astype(np.float32) / (1.0 if image.dtype == np.bool_ else 255.0)
    if np.issubdtype(image.dtype, np.integer):
        return np.clip(image.astype(np.float32) / 65535.0, 0, 1)
    return np.clip(np.nan_to_num(image.astype(np.float32)), 0, 1)


def _reason(path: Path, error: Exception) -> str:
    """A few words for why a file could not be read."""
    while (error.__cause__ or error.__context__) is not None:  # imageio wraps Pillow's own error
        error = error.__cause__ or error.__context__
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    suffix = path.suffix.lower()
    kind = {".jpg": "JPEG", ".jpeg": "JPEG"}.get(suffix, suffix.lstrip(".").upper())
    if isinstance(error, FileNotFoundError):
        return "missing"
    if isinstance(error, IsADirectoryError):
        return "is a folder"
    if "truncated" in text.lower():
        return f"truncated {kind}".strip()
    if path.is_file() and path.stat().st_size == 0:
        return "empty file"
    if "Could not find a backend" in text or "cannot identify" in text:
        return f"not a readable {kind or 'image'} file"
    return text[:100]


def _camera_for_file(frame: CaptureFrame, width: int, height: int, n: int) -> tuple[Camera, int]:
    """(camera of the file as stored, downscale still to apply). A file at its camera's size is resized by
    1/n unless it lies in an images_n/ folder (the loader then sized K for it); a file at about 1/n of its
    camera's full-resolution size (images_n/, rounded either way) only rescales K."""
    cam = frame.camera
    if (width, height) == (cam.width, cam.height):
        already_small = n > 1 and f"images_{n}" in frame.image_path.parts  # loader sized K for images_n/
        return cam, 1 if already_small else n
    if n > 1 and abs(width - cam.width / n) < 1 and abs(height - cam.height / n) < 1:
        return cam.resized(width, height), 1
    expected = f"{cam.width}x{cam.height}" + (f" or about 1/{n} of it" if n > 1 else "")
    raise _FrameProblem("size", frame.image_path, f"is {width}x{height}, its camera says {expected}")


def _split_alpha(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(rgb [H, W, 3], alpha [H, W] or None) from 1 (gray), 2 (gray+alpha), 3 or 4 channels."""
    channels = pixels.shape[-1]
    color = pixels[..., :1 if channels <= 2 else 3]
    alpha = pixels[..., -1] if channels in (2, 4) else None
    return np.broadcast_to(color, pixels.shape[:2] + (3,)).astype(np.float32), alpha


def _undistort(stacked: np.ndarray, camera: Camera, distortion) -> tuple[np.ndarray, Camera]:
    """All planes through ngfx.scenes.captures.undistort; its result may be an image or (image, K)."""
    from ngfx.scenes.captures.undistort import undistort_image

    result = undistort_image(stacked, camera.K, distortion)
    image, K = result if isinstance(result, tuple) else (result, camera.K)
    image = image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    camera = camera.replace(K=np.asarray(K, dtype=np.float64))
    if image.shape[:2] != (camera.height, camera.width):
        camera = camera.replace(width=int(image.shape[1]), height=int(image.shape[0]))
    return image, camera


def _downscale(stacked: np.ndarray, camera: Camera, n: int, path: Path) -> tuple[np.ndarray, Camera]:
    """n x n block means after cropping the right/bottom remainder (K unchanged by that crop)."""
    h, w = stacked.shape[0] // n, stacked.shape[1] // n
    if h == 0 or w == 0:
        raise _FrameProblem("size", path, f"{camera.width}x{camera.height} is smaller than the downscale {n}")
    blocks = stacked[:h * n, :w * n].reshape(h, n, w, n, -1)
    cropped = camera.replace(width=w * n, height=h * n)
    return blocks.mean(axis=(1, 3), dtype=np.float32), cropped.resized(w, h)


def _flag_odd_sizes(results: list) -> list:
    """Within each camera id, images whose size differs from the most common one become size problems."""
    by_id = collections.defaultdict(list)
    for i, r in enumerate(results):
        if isinstance(r, FrameImage) and r.frame.camera_id:
            by_id[r.frame.camera_id].append(i)
    results = list(results)
    for camera_id, indices in by_id.items():
        sizes = collections.Counter(tuple(results[i].rgb.shape[:2]) for i in indices)
        usual = sizes.most_common(1)[0][0]
        for i in indices:
            shape = tuple(results[i].rgb.shape[:2])
            if shape != usual:
                results[i] = _FrameProblem("size", results[i].frame.image_path,
                                           f"{shape[1]}x{shape[0]}, other images of camera {camera_id} are "
                                           f"{usual[1]}x{usual[0]}")
    return results


def _summary(problems: list[_FrameProblem], root: Path) -> str:
    """'4 images could not be read, first: ims/3/12.jpg (truncated JPEG)', and the same for sizes."""
    parts = []
    for kind, verb in (("unreadable", "could not be read"), ("size", "have inconsistent sizes")):
        of_kind = [p for p in problems if p.kind == kind]
        if of_kind:
            first = of_kind[0]
            noun = "image" if len(of_kind) == 1 else "images"
            verb = verb.replace("have", "has") if len(of_kind) == 1 else verb
            where = _relative(first.path, root)
            parts.append(f"{len(of_kind)} {noun} {verb}, first: {where} ({first.reason})")
    return "; ".join(parts)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)
