"""The interactive viewer: a pyglet 2 window that shows `render_fn(camera, time)` and forwards input.

Each frame: pending window events go to the `CameraController` and `ViewerState` (controls.py holds all the
input logic; this module only translates pyglet events), the controller's camera is resized to the
`AdaptiveResolution` size, `render_fn` draws it, the display image for the current mode is copied into a
persistent texture and stretched over the window, and the HUD goes on top. A still view is not re-rendered.

Screenshots (P, and `screenshot=` at exit) hold the full-resolution render of the current view, in the current
display mode, at the window's size: the window's content area without the HUD, rendered afresh rather than read
back from the framebuffer, so they equal a headless render of the same camera and time.

With `frames=N` the viewer runs exactly N frames on a fixed 1/30 s clock (playback and fly speed included;
frame k shows `start_time + k / 30` while playing), so scripted runs are reproducible, then exits.
pyglet is imported inside `run_viewer`; `import ngfx.viewer` needs no display.

Other threads steer a running viewer only through a `ViewerHandle` passed as `run_viewer(handle=...)`: it
records requests (redraw, title, close) under a lock, and the viewer's loop applies them on its own thread at
its next frame, so pyglet and `render_fn` are only ever called from the thread that runs `run_viewer`.
"""

import os
import sys
import threading
import time as wallclock
from typing import Callable

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.renderable import RenderOutput
from ngfx.viewer.controls import CameraController
from ngfx.viewer.display import TextureView, display_image, next_screenshot_path, save_png
from ngfx.viewer.hud import Hud, status_text
from ngfx.viewer.state import AdaptiveResolution, ViewerState

__all__ = ["run_viewer", "ViewerHandle"]

RenderFn = Callable[[Camera, float], RenderOutput]
FrameHook = Callable[[int, CameraController, ViewerState], None]

_SCRIPTED_DT = 1.0 / 30.0
_IDLE_FRAME_S = 1.0 / 60.0  # an interactive loop with nothing to do sleeps up to this long per frame
_BUTTONS = ((1, "left"), (4, "right"), (2, "middle"))  # pyglet.window.mouse bit -> controller name
_NO_DISPLAY_ERRORS = {"NoSuchDisplayException", "NoSuchConfigException", "ContextException", "ConfigException"}


def _no_display(detail: str = "") -> InputError:
    return InputError("no display for the viewer" + (f" ({detail})" if detail else ""),
                      fix="run under a desktop session, or xvfb-run, or use `ngfx render`")


def _open_window(width: int, height: int, title: str):
    """A resizable pyglet window, or InputError when there is no display or no usable OpenGL."""
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        raise _no_display("DISPLAY is not set")
    try:
        import pyglet.window  # importing it opens pyglet's shadow window, so it can fail too

        return pyglet.window.Window(width, height, caption=title, resizable=True, vsync=False)
    except Exception as e:
        if type(e).__name__ in _NO_DISPLAY_ERRORS:
            raise _no_display(str(e)) from None
        raise


class ViewerHandle:
    """Thread-safe remote control of one `run_viewer` loop (module docstring); every method may be called
    from any thread, before, during or after the loop, and returns at once."""

    def __init__(self):
        self._lock = threading.Lock()
        self._redraws = 0  # requests not yet taken by the loop
        self._title: str | None = None
        self._close = threading.Event()

    def request_redraw(self) -> None:
        """What `render_fn` draws changed: render the current view again at the next frame. A redraw counts as
        a view change, so frequent redraws render at the adaptive "moving" size and the view sharpens to full
        resolution once they stop. Screenshots taken after the request (also at exit) show the new content."""
        with self._lock:
            self._redraws += 1

    def set_title(self, title: str) -> None:
        """Set the window's caption at the next frame (the latest title wins)."""
        with self._lock:
            self._title = str(title)

    def close(self) -> None:
        """Ask the loop to exit, like the window's close button: the frame in progress is finished, the next one
        is not started, and `run_viewer` returns (after saving its `screenshot=`, if any)."""
        self._close.set()

    @property
    def close_requested(self) -> bool:
        return self._close.is_set()

    def _take(self) -> tuple[bool, str | None]:
        """(whether a redraw was requested, the new title or None) since the last call; for the loop."""
        with self._lock:
            redraw, title = self._redraws > 0, self._title
            self._redraws, self._title = 0, None
        return redraw, title


class _Viewer:
    """One window's per-frame loop; event handlers are pushed onto the pyglet window."""

    def __init__(self, window, render_fn: RenderFn, controller: CameraController, state: ViewerState,
                 handle: ViewerHandle):
        self.window, self.render_fn = window, render_fn
        self.controller, self.state, self.handle = controller, state, handle
        self._redraws = 0  # redraw requests taken from the handle: part of the render key, like the revision
        self.adaptive = AdaptiveResolution()
        self.view, self.hud = TextureView(), Hud(with_slider=state.duration_s > 0)
        self.size = window.get_size()
        self.fps = 0.0
        self._scrubbing = False
        self._seen = (controller.revision, state.time, self._redraws)
        self._rendered = None  # (key, RenderOutput) of the last render
        self._shown = None  # (key, mode) of the image in the texture
        window.push_handlers(self)

    # --- pyglet events, forwarded ------------------------------------------------------------------------
    def on_mouse_press(self, x, y, button, modifiers):
        self._scrubbing = self.hud.slider_hit(x, y)
        if self._scrubbing:
            self._scrub(x)

    def on_mouse_release(self, x, y, button, modifiers):
        self._scrubbing = False

    def on_mouse_drag(self, x, y, dx, dy, buttons, modifiers):
        if self._scrubbing:
            return self._scrub(x)
        name = next((name for bit, name in _BUTTONS if buttons & bit), None)
        if name is not None:
            self.controller.drag(dx, -dy, name)  # pyglet's y points up, the controller's down

    def on_mouse_scroll(self, x, y, scroll_x, scroll_y):
        self.controller.scroll(scroll_y)

    def on_key_press(self, symbol, modifiers):
        key = self._key_name(symbol)
        if not self.state.key_down(key):
            self.controller.key_down(key)  # returning None lets pyglet's own handler close on Escape

    def on_key_release(self, symbol, modifiers):
        self.controller.key_up(self._key_name(symbol))

    def on_resize(self, width, height):
        self.size = (max(width, 1), max(height, 1))

    @staticmethod
    def _key_name(symbol: int) -> str:
        import pyglet.window

        return pyglet.window.key.symbol_string(symbol).lower()

    def _scrub(self, x: float) -> None:
        self.state.set_time(self.hud.slider_fraction(x, self.size[0]) * self.state.duration_s)

    # --- frames ---------------------------------------------------------------------------------------------
    def _take_requests(self) -> bool:
        """Apply the handle's pending requests; returns whether a redraw was requested."""
        redraw, title = self.handle._take()
        if title is not None:
            self.window.set_caption(title)
        self._redraws += redraw
        return redraw

    def step(self, dt: float) -> None:
        """Advance input and playback by `dt` seconds, render if needed, and present one frame."""
        self.controller.update(dt)
        self.state.advance(dt)
        self._take_requests()
        seen = (self.controller.revision, self.state.time, self._redraws)  # a time change alone is motion too
        self.state.note_motion(seen != self._seen, dt)
        self._seen = seen
        width, height = self.size
        size = self.adaptive.size(width, height, self.state.moving)
        out = self._render(size)
        if self._shown != (self._rendered[0], self.state.mode):
            self.view.upload(display_image(out, self.state.mode))
            self._shown = (self._rendered[0], self.state.mode)
        if self.state.take_screenshot_request():
            print(f"ngfx: saved {self.save(next_screenshot_path())}")
        if dt > 0:
            self.fps += 0.1 * (1.0 / dt - self.fps) if self.fps else 1.0 / dt
        self._present(size)

    def _render(self, size: tuple[int, int]) -> RenderOutput:
        """The render for the current view at `size`, reused when nothing changed since the last one."""
        key = (*self._seen, *self.size, *size)
        if self._rendered is None or self._rendered[0] != key:
            camera = self.controller.camera(*self.size)
            if size != self.size:
                camera = camera.resized(*size)
            start = wallclock.perf_counter()
            out = self.render_fn(camera, self.state.time)
            self.adaptive.record(size[0] * size[1], wallclock.perf_counter() - start)
            self._rendered = (key, out)
        return self._rendered[1]

    def _present(self, size: tuple[int, int]) -> None:
        duration = self.state.duration_s
        fraction = self.state.time / duration if duration > 0 else None
        self.hud.update(status_text(self.fps, size, self.state), self.size, fraction)
        self.window.clear()
        self.view.draw(*self.size)
        self.hud.draw()
        self.window.flip()

    def save(self, path) -> str:
        """Save the full-resolution render of the current view and mode (no HUD) as a PNG; returns the path."""
        self._take_requests()  # a redraw requested after the last frame was drawn, e.g. just before a close
        self._seen = (self.controller.revision, self.state.time, self._redraws)  # the render key: current
        out = self._render(self.size)
        return str(save_png(path, display_image(out, self.state.mode)))

    def loop(self, frames: int | None, on_frame: FrameHook | None) -> None:
        """Run until the window closes, or for exactly `frames` frames on the scripted clock."""
        last = wallclock.perf_counter()
        index = 0
        while frames is None or index < frames:
            self.window.dispatch_events()
            self._take_requests()  # before a close too: a title set just before it still shows
            if self.window.has_exit or self.handle.close_requested:
                return
            if on_frame is not None:
                on_frame(index, self.controller, self.state)
            now = wallclock.perf_counter()
            dt = (_SCRIPTED_DT if index else 0.0) if frames is not None else now - last
            last = now
            self.step(dt)
            index += 1
            if frames is None and not self.state.moving:
                wallclock.sleep(max(0.0, _IDLE_FRAME_S - (wallclock.perf_counter() - now)))

    def close(self) -> None:
        """Release GL objects and close the window (safe after the user closed it)."""
        self.window.remove_handlers(self)
        self.view.delete()
        self.window.close()


def run_viewer(render_fn: RenderFn, camera: Camera, *, duration_s: float = 0.0, up=(0.0, 1.0, 0.0),
               center=None, title: str = "ngfx", screenshot: str | None = None, frames: int | None = None,
               start_time: float = 0.0, on_frame: FrameHook | None = None,
               handle: ViewerHandle | None = None) -> None:
    """Open a window of camera.width x camera.height showing `render_fn(camera, time) -> RenderOutput`.

    Left drag orbits around `center` (or a point on the view axis), right/middle drag pans, the wheel zooms,
    W/A/S/D/Q/E fly, R resets, M cycles rgb/depth/alpha, P saves `ngfx-screenshot-<n>.png` in the cwd,
    space plays/pauses and the bottom slider scrubs time when `duration_s` > 0 (scene seconds, `up` is the
    world up axis for orbiting). `frames=N` runs N frames on a fixed clock and returns; with `screenshot`,
    the final view is then saved there (module docstring; `frames` defaults to 1). `on_frame(k, controller,
    state)` is called before frame k, for scripted input. `handle` lets other threads request redraws, set the
    title and close the window (`ViewerHandle`). Raises InputError when there is no display.
    """
    if frames is not None and frames < 1:
        raise InputError(f"frames must be at least 1, got {frames}", field="frames")
    if screenshot is not None and frames is None:
        frames = 1
    controller = CameraController.from_camera(camera, up=up, center=center)
    state = ViewerState(duration_s=duration_s, time=start_time, playing=duration_s > 0)
    viewer = _Viewer(_open_window(camera.width, camera.height, title), render_fn, controller, state,
                     handle if handle is not None else ViewerHandle())
    try:
        viewer.loop(frames, on_frame)
        if screenshot is not None:
            print(f"ngfx: saved {viewer.save(screenshot)}")
    finally:
        viewer.close()
