"""The viewer's overlay: a status line (FPS, render size, mode, time, play state) and a time slider.

Window coordinates here are pyglet's: pixels with the origin at the bottom-left. The slider sits in a strip
`SLIDER_STRIP` pixels high along the bottom edge and exists only for scenes with a duration. pyglet is imported
when a `Hud` is built, never at module import.
"""

from ngfx.viewer.state import ViewerState

__all__ = ["Hud", "status_text", "SLIDER_STRIP"]

SLIDER_STRIP = 24  # height of the clickable strip at the bottom
_MARGIN = 12  # horizontal inset of the slider track
_TEXT_BG = (0, 0, 0, 140)


def status_text(fps: float, render_size: tuple[int, int], state: ViewerState) -> str:
    """One line of HUD text, e.g. '30.1 fps | 320x240 | rgb | t 1.20/4.00 s | playing'."""
    parts = [f"{fps:.1f} fps", f"{render_size[0]}x{render_size[1]}", state.mode]
    if state.duration_s > 0:
        parts += [f"t {state.time:.2f}/{state.duration_s:.2f} s", "playing" if state.playing else "paused"]
    return " | ".join(parts)


class Hud:
    """Status label and optional time slider, drawn as one pyglet batch over the rendered image."""

    def __init__(self, with_slider: bool):
        """Needs a current GL context; `with_slider` adds the time slider."""
        import pyglet

        self._batch = pyglet.graphics.Batch()
        back, front = pyglet.graphics.Group(order=0), pyglet.graphics.Group(order=1)
        self._label = pyglet.text.Label("", x=6, y=0, anchor_y="top", font_size=11, color=(255, 255, 255, 255),
                                        batch=self._batch, group=front)
        self._label_bg = pyglet.shapes.Rectangle(0, 0, 1, 1, color=_TEXT_BG, batch=self._batch, group=back)
        self.with_slider = with_slider
        if with_slider:
            self._track = pyglet.shapes.Rectangle(0, 0, 1, 4, color=(200, 200, 200, 160), batch=self._batch,
                                                  group=back)
            self._knob = pyglet.shapes.Rectangle(0, 0, 8, 16, color=(255, 190, 40, 255), batch=self._batch,
                                                 group=front)

    def update(self, text: str, window_size: tuple[int, int], fraction: float | None) -> None:
        """Set the status line and move the slider knob to `fraction` of the track (when there is one)."""
        width, height = window_size
        self._label.text = text
        self._label.y = height - 4
        self._label_bg.position = (0, height - 22)
        self._label_bg.width, self._label_bg.height = min(width, self._label.content_width + 12), 22
        if self.with_slider and fraction is not None:
            track = max(width - 2 * _MARGIN, 1)
            self._track.position = (_MARGIN, SLIDER_STRIP // 2 - 2)
            self._track.width = track
            self._knob.position = (_MARGIN + fraction * track - 4, SLIDER_STRIP // 2 - 8)

    def draw(self) -> None:
        """Draw over whatever is on screen."""
        self._batch.draw()

    def slider_hit(self, x: float, y: float) -> bool:
        """Whether a click at window position (x, y) lands on the slider strip."""
        return self.with_slider and 0 <= y < SLIDER_STRIP

    @staticmethod
    def slider_fraction(x: float, window_width: int) -> float:
        """Position along the track, in [0, 1], for window x."""
        return min(max((x - _MARGIN) / max(window_width - 2 * _MARGIN, 1), 0.0), 1.0)
