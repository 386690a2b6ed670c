"""Turning a RenderOutput into pixels: display images per mode, PNG files, and a texture blitted to the window.

Display images are uint8 [H, W, 3] with row 0 at the top (the `RenderOutput` layout):
- "rgb": the premultiplied colour over black, clamped to [0, 1] and rounded to the nearest of 256 levels;
- "depth": finite camera z normalised over the frame's own range, near = white, far = dark grey, empty = black;
- "alpha": coverage as grey levels.
`TextureView` imports pyglet only when built, so this module loads without a display.
"""

from pathlib import Path

import numpy as np
import torch

from ngfx.atomic import check_output_folder
from ngfx.render.output import save_png as write_png
from ngfx.scenes.renderable import RenderOutput

__all__ = ["to_uint8", "display_image", "save_png", "next_screenshot_path", "TextureView"]

_FAR_GREY = 0.15  # the farthest finite depth stays visibly brighter than empty pixels


def to_uint8(image) -> np.ndarray:
    """Float image in [0, 1] (torch or numpy) to uint8, clamping and rounding to the nearest level."""
    if isinstance(image, torch.Tensor):
        image = image.detach().to("cpu", torch.float32).numpy()
    image = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0)
    return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def _depth_gray(depth: torch.Tensor) -> torch.Tensor:
    """Finite depths mapped to [_FAR_GREY, 1] (near is bright); +inf and NaN become 0."""
    depth = depth.detach().to("cpu", torch.float32)
    finite = torch.isfinite(depth)
    gray = torch.zeros_like(depth)
    if finite.any():
        lo, hi = depth[finite].min(), depth[finite].max()
        span = (hi - lo).clamp_min(1e-12)
        gray[finite] = 1.0 - (1.0 - _FAR_GREY) * (depth[finite] - lo) / span
    return gray


def display_image(out: RenderOutput, mode: str) -> np.ndarray:
    """The uint8 [H, W, 3] image the viewer shows for `mode` ("rgb", "depth" or "alpha")."""
    if mode == "rgb":
        return to_uint8(out.rgb[..., :3])
    if mode == "depth":
        gray = _depth_gray(out.depth)
    elif mode == "alpha":
        gray = out.alpha.detach().to("cpu", torch.float32)
    else:
        raise ValueError(f"unknown display mode {mode!r}")
    return np.repeat(to_uint8(gray)[..., None], 3, axis=-1)


def save_png(path, image: np.ndarray) -> Path:
    """Write a uint8 [H, W, 3] image to `path` as every ngfx output is written (`ngfx.render.output`:
    atomically, mode 0644 under the usual umask, in an existing folder)."""
    check_output_folder(path, field="screenshot")
    write_png(path, image)
    return Path(path)


def next_screenshot_path(directory=".") -> Path:
    """The first free `ngfx-screenshot-<n>.png` (n = 1, 2, ...) in `directory`."""
    n = 1
    while (path := Path(directory) / f"ngfx-screenshot-{n}.png").exists():
        n += 1
    return path


class TextureView:
    """A persistent RGBA texture holding the latest display image, drawn scaled to fill the window."""

    def __init__(self):
        """Needs a current GL context (the viewer window's)."""
        import pyglet

        self._pyglet = pyglet
        self._texture = None
        self._sprite = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the image held, (0, 0) before the first upload."""
        return (self._texture.width, self._texture.height) if self._texture else (0, 0)

    def upload(self, image: np.ndarray) -> None:
        """Copy a uint8 [H, W, 3] image (row 0 on top) into the texture (glTexSubImage2D via blit_into)."""
        pyglet, gl = self._pyglet, self._pyglet.gl
        height, width = image.shape[:2]
        if self.size != (width, height):  # reallocate only when the render size changes
            self._texture = pyglet.image.Texture.create(width, height, min_filter=gl.GL_LINEAR,
                                                        mag_filter=gl.GL_LINEAR)
            if self._sprite is not None:
                self._sprite.delete()
            self._sprite = pyglet.sprite.Sprite(self._texture, 0, 0)
        rgba = np.empty((height, width, 4), dtype=np.uint8)  # 4 bytes a pixel: no row-alignment padding
        rgba[..., :3], rgba[..., 3] = image, 255
        # a negative pitch tells pyglet that rows run top to bottom, as in our images
        data = pyglet.image.ImageData(width, height, "RGBA", rgba.tobytes(), pitch=-4 * width)
        self._texture.blit_into(data, 0, 0, 0)

    def draw(self, width: int, height: int) -> None:
        """Draw the image stretched over a `width` x `height` window (linear filtering when upscaled)."""
        if self._sprite is None:
            return
        self._sprite.scale_x = width / self._texture.width
        self._sprite.scale_y = height / self._texture.height
        self._sprite.draw()

    def delete(self) -> None:
        """Free the GL objects (call before closing the window)."""
        if self._sprite is not None:
            self._sprite.delete()
        self._sprite = self._texture = None
