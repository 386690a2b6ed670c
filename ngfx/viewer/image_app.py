"""The 2D viewer: a pyglet window showing a fitted image field with pan and deep zoom (`PanZoom`).

Each frame the window's events go to the `PanZoom` controller; when the view changed, `render_fn(region,
width, height)` draws the visible uv region afresh at the window's resolution (at the `AdaptiveResolution`
size while the view moves, then sharp once it settles), so zooming far past 1:1 shows what the field
learned rather than enlarged pixels. Left drag pans, the wheel zooms about the pointer, R fits, 1 shows 1:1,
+/- zoom, arrows pan, P saves a screenshot. pyglet is imported only when a window opens.
"""

import time as wallclock
from typing import Callable

import numpy as np

from ngfx.errors import InputError
from ngfx.viewer.app import _IDLE_FRAME_S, _SCRIPTED_DT, _open_window
from ngfx.viewer.display import TextureView, next_screenshot_path, save_png
from ngfx.viewer.hud import Hud
from ngfx.viewer.pan_zoom import PanZoom
from ngfx.viewer.state import AdaptiveResolution, ViewerState

__all__ = ["run_image_viewer", "ImageRenderFn"]

ImageRenderFn = Callable[[tuple[float, float, float, float], int, int], np.ndarray]


class _ImageViewer:
    """One window's loop over a `PanZoom` controller; pushed onto the pyglet window as its event handler."""

    def __init__(self, window, render_fn: ImageRenderFn, view: PanZoom):
        self.window, self.render_fn, self.view = window, render_fn, view
        self.state = ViewerState()  # motion and screenshot requests only
        self.adaptive, self.texture, self.hud = AdaptiveResolution(), TextureView(), Hud(with_slider=False)
        self.fps, self._seen, self._shown, self._rendered = 0.0, None, None, None
        window.push_handlers(self)

    def on_mouse_drag(self, x, y, dx, dy, buttons, modifiers):
        self.view.drag(dx, -dy)  # pyglet's y points up, the controller's down

    def on_mouse_scroll(self, x, y, scroll_x, scroll_y):
        self.view.scroll(scroll_y, x, self.view.window_height - y)

    def on_key_press(self, symbol, modifiers):
        import pyglet.window

        key = pyglet.window.key.symbol_string(symbol).lower()
        if key == "p":
            self.state.screenshot_requested = True
        else:
            self.view.key_down(key)  # returning None lets pyglet close the window on Escape

    def on_resize(self, width, height):
        self.view.resize(width, height)

    def _render(self, size: tuple[int, int]) -> np.ndarray:
        key = (self.view.revision, *size)
        if self._rendered is None or self._rendered[0] != key:
            start = wallclock.perf_counter()
            image = self.render_fn(self.view.region(), *size)
            self.adaptive.record(size[0] * size[1], wallclock.perf_counter() - start)
            self._rendered = (key, image)
        return self._rendered[1]

    def step(self, dt: float) -> None:
        self.state.note_motion(self.view.revision != self._seen, dt)
        self._seen = self.view.revision
        window_size = (self.view.window_width, self.view.window_height)
        size = self.adaptive.size(*window_size, self.state.moving)
        image = self._render(size)
        if self._shown != self._rendered[0]:
            self.texture.upload(image)
            self._shown = self._rendered[0]
        if self.state.take_screenshot_request():
            print(f"ngfx: saved {self.save(next_screenshot_path())}")
        if dt > 0:
            self.fps += 0.1 * (1.0 / dt - self.fps) if self.fps else 1.0 / dt
        self.hud.update(f"{self.fps:.1f} fps | {size[0]}x{size[1]} | {self.view.status()}", window_size, None)
        self.window.clear()
        self.texture.draw(*window_size)
        self.hud.draw()
        self.window.flip()

    def save(self, path) -> str:
        """The current view at the window's full resolution (no HUD), as a PNG."""
        return str(save_png(path, self._render((self.view.window_width, self.view.window_height))))

    def loop(self, frames: int | None, on_frame) -> None:
        last, index = wallclock.perf_counter(), 0
        while frames is None or index < frames:
            self.window.dispatch_events()
            if self.window.has_exit:
                return
            if on_frame is not None:
                on_frame(index, self.view)
            now = wallclock.perf_counter()
            dt = (_SCRIPTED_DT if index else 0.0) if frames is not None else now - last
            last = now
            self.step(dt)
            index += 1
            if frames is None and not self.state.moving:
                wallclock.sleep(max(0.0, _IDLE_FRAME_S - (wallclock.perf_counter() - now)))

    def close(self) -> None:
        self.window.remove_handlers(self)
        self.texture.delete()
        self.window.close()


def run_image_viewer(render_fn: ImageRenderFn, image_size: tuple[int, int], *, window_size=(1280, 720),
                     title: str = "ngfx", screenshot: str | None = None, frames: int | None = None,
                     on_frame=None) -> None:
    """Open a window of `window_size` (shrunk to the image's aspect) on an image of `image_size` (W, H)
    source pixels, drawn by `render_fn((u0, v0, u1, v1), width, height) -> uint8 [height, width, 3]`
    (the uv rectangle corner to corner, `ngfx.viewer.pan_zoom`). `frames=N` runs N frames on a fixed clock,
    then saves `screenshot` if given (`frames` defaults to 1 then); `on_frame(k, pan_zoom)` is called before
    frame k, for scripted input. Raises InputError when there is no display."""
    if frames is not None and frames < 1:
        raise InputError(f"frames must be at least 1, got {frames}", field="frames")
    if screenshot is not None and frames is None:
        frames = 1
    scale = min(window_size[0] / image_size[0], window_size[1] / image_size[1])  # small images open enlarged
    width, height = max(int(round(image_size[0] * scale)), 64), max(int(round(image_size[1] * scale)), 64)
    view = PanZoom(image_size[0], image_size[1], width, height)
    viewer = _ImageViewer(_open_window(width, height, title), render_fn, view)
    try:
        viewer.loop(frames, on_frame)
        if screenshot is not None:
            print(f"ngfx: saved {viewer.save(screenshot)}")
    finally:
        viewer.close()
