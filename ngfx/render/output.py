"""Headless frame output: H.264 video, a single PNG or a folder of numbered PNGs, plus optional depth.

Outputs go in an existing folder (`ngfx.atomic.check_output_folder`: none is created above them) and are
atomic: everything is written under a temporary name in the destination's folder and renamed
onto the final name only when the writer closes cleanly. If the `with` block raises, the temporaries are
deleted, and a file or folder already under the final name is left as it was.

Depth frames are 16-bit PNGs `depth_00000.png` ... holding round(z / depth_scale), where z is camera-space
depth in scene units (`ngfx.scenes.camera`), so depth = value * depth_scale. 0 means no surface (empty,
infinite, non-finite or non-positive depth) and 65535 means at least 65535 * depth_scale (saturated). A
`depth.json` beside them records depth_scale. imageio (and its ffmpeg plugin) is imported only when a writer
or reader needs it.
"""

import contextlib
import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np

from ngfx.atomic import check_output_folder
from ngfx.errors import InputError

__all__ = ["FrameWriter", "VideoInfo", "read_video_info", "save_png", "to_uint8"]

_FOLDER_FILES = ("frame_", "depth_", "depth.json")  # what a frame folder may hold and still be replaced
_NOT_FOLDERS = {".jpg", ".jpeg", ".gif", ".avi", ".mov", ".mkv", ".webm", ".exr", ".tif", ".tiff", ".bmp"}


def _numpy(array) -> np.ndarray:
    """numpy view of a numpy array or a torch tensor (torch is never imported here)."""
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def to_uint8(rgb) -> np.ndarray:
    """uint8 image from a uint8 one (unchanged) or a float one in [0, 1] (clamped, NaN -> 0, rounded)."""
    rgb = _numpy(rgb)
    if rgb.dtype == np.uint8:
        return rgb
    if not np.issubdtype(rgb.dtype, np.floating):
        raise ValueError(f"expected a uint8 or float image, got dtype {rgb.dtype}")
    return np.rint(np.clip(np.nan_to_num(rgb, nan=0.0), 0.0, 1.0) * 255.0).astype(np.uint8)


def _temporary(path: Path, suffix: str = "") -> Path:
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}{suffix}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def save_png(path, image) -> None:
    """Write a PNG atomically: uint8 [H, W] / [H, W, 3] / [H, W, 4], uint16 [H, W], or float in [0, 1]."""
    import imageio.v3 as iio

    path, image = Path(path), _numpy(image)
    if image.dtype != np.uint16:
        image = to_uint8(image)
    temporary = _temporary(path, ".png")
    try:
        iio.imwrite(temporary, np.ascontiguousarray(image), extension=".png")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _encode_depth(depth, depth_scale: float) -> np.ndarray:
    """uint16 depth image: round(z / depth_scale), 0 where there is no surface, saturating at 65535."""
    z = _numpy(depth).astype(np.float64)
    z = z[..., 0] if z.ndim == 3 and z.shape[-1] == 1 else z
    valid = np.isfinite(z) & (z > 0)
    # a surface nearer than depth_scale / 2 still reads as 1, so 0 keeps meaning "nothing there"
    counts = np.clip(np.rint(np.where(valid, z, 0.0) / depth_scale), 1, 65535)
    return np.where(valid, counts, 0).astype(np.uint16)


def _check_replaceable(final: Path) -> None:
    """Refuse to replace anything but a folder of ngfx frames (a user's folder must never be deleted)."""
    if not final.exists():
        return
    if not final.is_dir() or any(not p.name.startswith(_FOLDER_FILES) for p in final.iterdir()):
        raise InputError("already exists and is not a folder of frames", file=final,
                         fix="choose a new or empty folder, or delete it")


def _replace_folder(temporary: Path, final: Path) -> None:
    """Move a finished folder onto `final`; an existing frame folder there is set aside, then deleted."""
    _check_replaceable(final)
    if final.exists():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        os.replace(final, old)
        try:
            os.replace(temporary, final)
        except OSError:
            os.replace(old, final)  # put the previous frames back
            raise
        _remove(old)
    else:
        os.replace(temporary, final)


class FrameWriter:
    """Context manager writing frames to `path`, chosen by its suffix; see the module docstring for atomicity.

    - `.mp4`: H.264 (libx264, yuv420p) at `fps`; `quality` 0-10 maps to x264 CRF 51 * (1 - quality / 10).
      yuv420p needs even sizes, so an odd width or height is padded to even by repeating the last column
      or row (the video is then up to one pixel wider and taller than the frames); frames are never rescaled.
    - `.png`: exactly one frame, as one image.
    - anything else: a folder of `frame_00000.png`, ... (an existing folder is replaced only if it holds
      nothing but such frames). Other image or video suffixes (.jpg, .gif, .mov, ...) are refused.
    With `depth=True` every `write` needs a depth image; it goes to `depth_00000.png`, ... in the frame
    folder, or in `<stem>_depth/` beside a `.mp4` or `.png`, with `depth.json` (unit: module docstring).
    """

    def __init__(self, path, *, fps: float = 30.0, quality: float = 8.0, depth: bool = False,
                 depth_scale: float = 1e-3):
        self.path, self.fps, self.quality = Path(path), float(fps), quality
        self.kind = {".mp4": "mp4", ".png": "png"}.get(self.path.suffix.lower(), "folder")
        if self.kind == "folder" and self.path.suffix.lower() in _NOT_FOLDERS:
            raise InputError(f"unsupported output type '{self.path.suffix}'", file=self.path,
                             fix="write a .mp4, a .png or a folder of PNGs")
        if not (fps > 0 and depth_scale > 0):
            raise InputError(f"fps ({fps}) and depth_scale ({depth_scale}) must be positive", field="fps")
        self.depth_scale, self.frames_written, self.size = depth_scale, 0, None
        self._video, self._image, self._temporaries, self._folders, self._closed = None, None, [], [], False
        check_output_folder(self.path, field="out")
        self._frame_dir = self._make_dir(self.path) if self.kind == "folder" else None
        self._depth_dir = None
        if depth:
            sibling = self.path.with_name(f"{self.path.stem}_depth")
            self._depth_dir = self._frame_dir or self._make_dir(sibling)

    def _make_dir(self, final: Path) -> Path:
        """A temporary folder that `close` moves onto `final` (checked now, to fail before rendering)."""
        _check_replaceable(final)
        temporary = _temporary(final)
        _remove(temporary)
        temporary.mkdir()
        self._temporaries.append(temporary)
        self._folders.append((temporary, final))
        return temporary

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, rgb, depth=None) -> None:
        """Append a frame: rgb [H, W, 3] uint8 or float in [0, 1] (numpy or torch), depth [H, W] z."""
        rgb = to_uint8(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an [H, W, 3] image, got shape {rgb.shape}")
        if self.size is None:
            self.size = rgb.shape[:2]
        elif rgb.shape[:2] != self.size:
            raise ValueError(f"frame {self.frames_written} is {rgb.shape[:2]}, earlier ones are {self.size}")
        if (depth is None) != (self._depth_dir is None):
            raise ValueError("give depth on every write exactly when the writer was opened with depth=True")
        if self.kind == "png" and self.frames_written:
            raise InputError("a .png output holds one frame, and a second was written", file=self.path,
                             fix="write a .mp4 or a folder of PNGs for several frames")
        encoded = None if depth is None else _encode_depth(depth, self.depth_scale)
        if encoded is not None and encoded.shape != self.size:
            raise ValueError(f"depth is {encoded.shape}, the frame is {self.size}")
        self._write_rgb(rgb)
        if encoded is not None:
            save_png(self._depth_dir / f"depth_{self.frames_written:05d}.png", encoded)
        self.frames_written += 1

    def _write_rgb(self, rgb: np.ndarray) -> None:
        if self.kind == "folder":
            save_png(self._frame_dir / f"frame_{self.frames_written:05d}.png", rgb)
        elif self.kind == "png":
            self._image = rgb
        else:
            if self._video is None:
                self._video = self._open_video()
            height, width = rgb.shape[:2]  # libx264 + yuv420p needs even sizes: repeat the last row / column
            self._video.append_data(np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge"))

    def _open_video(self):
        import imageio.v2 as imageio

        temporary = _temporary(self.path, ".mp4")
        self._temporaries.append(temporary)
        return imageio.get_writer(temporary, format="FFMPEG", mode="I", fps=self.fps, codec="libx264",
                                  quality=self.quality, pixelformat="yuv420p", macro_block_size=1,
                                  ffmpeg_log_level="error")

    def close(self) -> None:
        """Finish the output and move it onto its final name; on any failure nothing appears there."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.frames_written == 0:
                raise InputError("no frames were written", file=self.path)
            if self._video is not None:
                video, self._video = self._video, None
                video.close()
                os.replace(_temporary(self.path, ".mp4"), self.path)
            elif self.kind == "png":
                save_png(self.path, self._image)
            if self._depth_dir is not None:
                (self._depth_dir / "depth.json").write_text(json.dumps(self._depth_meta(), indent=2))
            for temporary, final in self._folders:
                _replace_folder(temporary, final)
        finally:
            self.abort()

    def _depth_meta(self) -> dict:
        return {"format": "uint16 PNG, depth = value * depth_scale (camera-space z, scene units)",
                "depth_scale": self.depth_scale, "empty_value": 0, "saturated_value": 65535,
                "files": "depth_%05d.png"}

    def abort(self) -> None:
        """Drop everything written so far (what `with` does on an exception); the final name is untouched."""
        self._closed = True
        if self._video is not None:
            video, self._video = self._video, None
            with contextlib.suppress(OSError, RuntimeError, ValueError):  # ffmpeg may have died already
                video.close()
        for temporary in self._temporaries:
            _remove(temporary)
        self._temporaries = []


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What `read_video_info` reports: decoded frame count, size in pixels, frames per second."""

    frames: int
    width: int
    height: int
    fps: float


def read_video_info(path) -> VideoInfo:
    """Frame count (by decoding), width, height and fps of a video file, via imageio's ffmpeg plugin."""
    import imageio.v2 as imageio
    import imageio_ffmpeg

    with imageio.get_reader(path, format="FFMPEG") as reader:
        meta = reader.get_meta_data()
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    width, height = meta["size"]
    return VideoInfo(frames=int(frames), width=int(width), height=int(height), fps=float(meta["fps"]))
