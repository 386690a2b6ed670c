"""Viewer state that is not the camera: playback time, display mode, motion, and adaptive resolution.

Nothing here touches a window, so it is tested without a display. Times are seconds of scene time
(`ngfx.scenes.camera`), wall-clock intervals `dt` are seconds too.

Adaptive resolution follows REFERENCE 6.2 (as in nerfstudio's viewer): measure the render throughput R in
pixels per second; while the view moves, render P = R / target_fps pixels with the window's aspect ratio
(short side at least `min_side`) and upscale; when still, render at full resolution. Two kinds of hysteresis
keep it from oscillating: `ViewerState.moving` stays on for `settle_s` after the last change, and the moving
scale only follows the throughput estimate when it drifts by more than `hysteresis` (relative).
"""

import dataclasses
import math

__all__ = ["ViewerState", "AdaptiveResolution", "RENDER_MODES"]

RENDER_MODES = ("rgb", "depth", "alpha")


@dataclasses.dataclass
class ViewerState:
    """Playback, display mode and motion flags of one viewer window."""

    duration_s: float = 0.0
    """Length of the scene's time range in seconds; 0 means a static scene (no playback)."""
    time: float = 0.0
    """Current scene time in seconds, in [0, duration_s]."""
    playing: bool = False
    """Whether `advance` moves time forward (it wraps at duration_s)."""
    mode: str = "rgb"
    """What the window shows: one of RENDER_MODES."""
    screenshot_requested: bool = False
    """Set by the P key; the window saves a screenshot and clears it with `take_screenshot_request`."""
    moving: bool = False
    """True while the view or time changes, and for `settle_s` after the last change."""
    settle_s: float = 0.25
    """How long the view must stay unchanged before the viewer renders at full resolution."""
    _still_for: float = math.inf

    def __post_init__(self):
        self.duration_s = max(float(self.duration_s), 0.0)
        self.playing = bool(self.playing) and self.duration_s > 0
        self.time = self._clamp(float(self.time))
        if self.mode not in RENDER_MODES:
            raise ValueError(f"mode {self.mode!r} is not one of {RENDER_MODES}")

    def _clamp(self, t: float) -> float:
        return min(max(t, 0.0), self.duration_s)

    def key_down(self, key: str) -> bool:
        """Space toggles play, M cycles the mode, P requests a screenshot; returns whether the key was used."""
        if key == "space":
            self.toggle_play()
        elif key == "m":
            self.cycle_mode()
        elif key == "p":
            self.screenshot_requested = True
        else:
            return False
        return True

    def toggle_play(self) -> None:
        """Play or pause (a static scene never plays)."""
        self.playing = not self.playing and self.duration_s > 0

    def cycle_mode(self) -> str:
        """rgb -> depth -> alpha -> rgb; returns the new mode."""
        self.mode = RENDER_MODES[(RENDER_MODES.index(self.mode) + 1) % len(RENDER_MODES)]
        return self.mode

    def set_time(self, t: float) -> bool:
        """Jump to scene time `t` (clamped to [0, duration_s]); returns whether the time changed."""
        t = self._clamp(float(t))
        changed, self.time = t != self.time, t
        return changed

    def advance(self, dt: float) -> bool:
        """Move time forward by `dt` seconds while playing, wrapping at the end; returns whether it changed."""
        if not self.playing or dt <= 0:
            return False
        return self.set_time(math.fmod(self.time + dt, self.duration_s))

    def note_motion(self, changed: bool, dt: float) -> bool:
        """Record whether this frame changed the view or time; returns the (hysteretic) `moving` flag."""
        self._still_for = 0.0 if changed else self._still_for + max(dt, 0.0)
        self.moving = self._still_for < self.settle_s
        return self.moving

    def take_screenshot_request(self) -> bool:
        """Whether a screenshot was requested since the last call (and clear the request)."""
        requested, self.screenshot_requested = self.screenshot_requested, False
        return requested


@dataclasses.dataclass
class AdaptiveResolution:
    """Picks the render size for a window size from the measured throughput (module docstring)."""

    target_fps: float = 30.0
    """Frame rate to hold while the view moves."""
    min_side: int = 64
    """A moving render's short side stays at least this many pixels (or the window's, if smaller)."""
    hysteresis: float = 0.25
    """Relative drift of the ideal scale needed before the moving scale changes."""
    smoothing: float = 0.3
    """Weight of the newest sample in the exponential moving average of the throughput."""
    pixels_per_s: float | None = None
    """Smoothed render throughput; None until the first `record`."""
    scale: float = 1.0
    """Linear scale used while moving, in (0, 1]."""

    def record(self, pixels: int, seconds: float) -> None:
        """Add one measurement: `pixels` rendered in `seconds` of wall-clock time."""
        if pixels <= 0 or seconds <= 0:
            return
        rate = pixels / seconds
        if self.pixels_per_s is None:
            self.pixels_per_s = rate
        else:
            self.pixels_per_s += self.smoothing * (rate - self.pixels_per_s)

    def ideal_scale(self, width: int, height: int) -> float:
        """Scale whose pixel count meets the frame budget, clamped to [min_side / short side, 1]."""
        lowest = min(1.0, self.min_side / min(width, height))
        if self.pixels_per_s is None:
            return 1.0
        budget = self.pixels_per_s / self.target_fps
        return min(max(math.sqrt(budget / (width * height)), lowest), 1.0)

    def size(self, width: int, height: int, moving: bool) -> tuple[int, int]:
        """Render size for a `width` x `height` window: full when still, the budgeted size when moving."""
        if not moving:
            return width, height
        ideal = self.ideal_scale(width, height)
        if abs(math.log(ideal / self.scale)) > math.log1p(self.hysteresis):
            self.scale = ideal
        lowest = min(1.0, self.min_side / min(width, height))
        self.scale = min(max(self.scale, lowest), 1.0)  # the window may have been resized since
        return max(1, round(width * self.scale)), max(1, round(height * self.scale))
