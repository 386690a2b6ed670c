"""Pan and deep zoom over a 2D field (a fitted image): which part of the image a window shows.

Coordinates: image uv in [0, 1]^2 with u right and v down, (0, 0) the top-left corner of the image and pixel
(x, y) of a W x H image centred at ((x + 0.5) / W, (y + 0.5) / H), the pixel-centre convention of
`ngfx.scenes.camera` in two dimensions. Window coordinates are pixels with y down (the controller's callers
flip pyglet's y). `zoom` is window pixels per source-image pixel: 1 shows the image 1:1, the fitted view
shows it whole, and zooming goes on past 1:1 (down to a fraction of a source pixel per window pixel),
because the field is continuous and is rendered afresh at screen resolution for every view.

Nothing here touches a window, so it is tested without a display.
"""

import dataclasses
import math

__all__ = ["PanZoom"]

_STEP = 1.25  # zoom factor per wheel click or +/- key
_PAN_KEYS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
_PAN_KEY_FRACTION = 0.1  # an arrow key moves the view by this fraction of the window


@dataclasses.dataclass
class PanZoom:
    """The visible region of a `image_width` x `image_height` image in a `window_width` x `window_height`
    window (module docstring for the frames)."""

    image_width: int
    image_height: int
    window_width: int
    window_height: int
    max_zoom: float = 256.0
    """Most window pixels per source pixel: deep zoom far past 1:1."""
    center: tuple[float, float] = (0.5, 0.5)
    """uv at the window's centre."""
    zoom: float = 0.0
    """Window pixels per source pixel; 0 (the default) starts at the fitted view."""
    revision: int = 0
    """Incremented by every change, so a caller can tell when to render again."""

    def __post_init__(self):
        if min(self.image_width, self.image_height, self.window_width, self.window_height) < 1:
            raise ValueError(f"sizes must be >= 1, got image {self.image_width}x{self.image_height}, window "
                             f"{self.window_width}x{self.window_height}")
        if self.zoom <= 0:
            self.zoom = self.fit_zoom()
        self._clamp()

    def fit_zoom(self) -> float:
        """The zoom that shows the whole image in the window."""
        return min(self.window_width / self.image_width, self.window_height / self.image_height)

    def min_zoom(self) -> float:
        """Zooming out stops at half the fitted view."""
        return 0.5 * self.fit_zoom()

    def region(self) -> tuple[float, float, float, float]:
        """(u0, v0, u1, v1): the uv rectangle under the window, corner to corner (may extend past [0, 1])."""
        half_u = 0.5 * self.window_width / (self.zoom * self.image_width)
        half_v = 0.5 * self.window_height / (self.zoom * self.image_height)
        u, v = self.center
        return u - half_u, v - half_v, u + half_u, v + half_v

    def uv_at(self, x: float, y: float) -> tuple[float, float]:
        """The uv under window position (x, y) (pixels, y down)."""
        u0, v0, u1, v1 = self.region()
        return u0 + (u1 - u0) * x / self.window_width, v0 + (v1 - v0) * y / self.window_height

    def _changed(self) -> None:
        self._clamp()
        self.revision += 1

    def _clamp(self) -> None:
        """Keep the zoom in range and the image's centre area under the window (never panned off screen)."""
        self.zoom = min(max(self.zoom, self.min_zoom()), self.max_zoom)
        u, v = self.center
        self.center = (min(max(float(u), 0.0), 1.0), min(max(float(v), 0.0), 1.0))

    def resize(self, window_width: int, window_height: int) -> None:
        """The window changed size; the centre and zoom stay (a fitted view stays fitted)."""
        fitted = math.isclose(self.zoom, self.fit_zoom())
        self.window_width, self.window_height = max(int(window_width), 1), max(int(window_height), 1)
        if fitted:
            self.zoom = self.fit_zoom()
        self._changed()

    def drag(self, dx: float, dy: float) -> None:
        """Move the image with the pointer by (dx, dy) window pixels (y down)."""
        u, v = self.center
        self.center = (u - dx / (self.zoom * self.image_width), v - dy / (self.zoom * self.image_height))
        self._changed()

    def scroll(self, clicks: float, x: float | None = None, y: float | None = None) -> None:
        """Zoom in (clicks > 0) or out by 1.25 per click, keeping the uv under (x, y) in place (default: the
        window's centre)."""
        x = self.window_width / 2 if x is None else x
        y = self.window_height / 2 if y is None else y
        before = self.uv_at(x, y)
        self.zoom = min(max(self.zoom * _STEP ** clicks, self.min_zoom()), self.max_zoom)
        after = self.uv_at(x, y)
        self.center = (self.center[0] + before[0] - after[0], self.center[1] + before[1] - after[1])
        self._changed()

    def key_down(self, key: str) -> bool:
        """R (or 0) fits the image, 1 shows it 1:1, +/- zoom, arrows pan; returns whether the key was used."""
        if key in ("r", "_0", "num_0"):
            self.center, self.zoom = (0.5, 0.5), self.fit_zoom()
        elif key in ("_1", "num_1"):
            self.zoom = 1.0
        elif key in ("plus", "equal", "num_add"):
            return self.scroll(1) or True
        elif key in ("minus", "num_subtract"):
            return self.scroll(-1) or True
        elif key in _PAN_KEYS:
            sx, sy = _PAN_KEYS[key]
            return self.drag(-sx * _PAN_KEY_FRACTION * self.window_width,
                             -sy * _PAN_KEY_FRACTION * self.window_height) or True
        else:
            return False
        self._changed()
        return True

    def status(self) -> str:
        """e.g. 'zoom 4.00x (1:1 = 1.00x) | centre 0.512, 0.300'."""
        return f"zoom {self.zoom:.3g}x | centre {self.center[0]:.4f}, {self.center[1]:.4f}"
