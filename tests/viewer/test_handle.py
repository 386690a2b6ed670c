"""`ViewerHandle`: another thread redraws, retitles and closes a running viewer (ngfx/viewer/app.py).

Run with `xvfb-run -a python -m pytest tests/viewer`; without DISPLAY these tests skip.
"""

import threading
import time

import numpy as np
import pytest
import torch

from ngfx.scenes.camera import Camera
from ngfx.scenes.renderable import RenderOutput
from ngfx.viewer import ViewerHandle, run_viewer
from tests.viewer.test_app import H, W, needs_display, read_png, start_camera

OLD, NEW = 0.2, 0.8  # grey levels: what render_fn draws before and after the other thread's change


def grey_render(level: list, renders: list):
    """A render_fn drawing the grey level level[0]; it appends each level it draws to `renders`."""

    def render(camera: Camera, time: float) -> RenderOutput:
        renders.append(level[0])
        h, w = camera.height, camera.width
        return RenderOutput(rgb=torch.full((h, w, 3), level[0]), depth=torch.ones(h, w), alpha=torch.ones(h, w))

    return render


def deadline_guard(seconds: float, windows: list | None = None):
    """An on_frame hook that fails the test instead of hanging when the loop never ends."""
    deadline = time.monotonic() + seconds

    def on_frame(k, controller, state):
        if k == 0 and windows is not None:
            import pyglet.app

            windows.extend(pyglet.app.windows)
        if time.monotonic() > deadline:
            raise TimeoutError("the viewer loop did not end: close() from another thread was ignored")

    return on_frame


@pytest.mark.display
@needs_display
def test_redraw_title_and_close_from_another_thread():
    level, renders, windows, seen = [OLD], [], [], {}
    handle = ViewerHandle()

    def remote():
        for _ in range(1000):  # until the first frame is drawn
            if renders:
                break
            time.sleep(0.01)
        time.sleep(0.3)  # a still view is not re-rendered without a request
        seen["quiet"] = list(renders)
        level[0] = NEW
        handle.set_title("ngfx remote title")
        handle.request_redraw()
        for _ in range(1000):  # until the viewer renders the new content
            if NEW in renders:
                break
            time.sleep(0.01)
        handle.close()

    thread = threading.Thread(target=remote)
    thread.start()
    try:
        run_viewer(grey_render(level, renders), start_camera(), frames=None, handle=handle,
                   on_frame=deadline_guard(30.0, windows))
    finally:
        handle.close()
        thread.join(15)
    assert seen["quiet"] == [OLD], seen["quiet"]
    assert NEW in renders, "request_redraw() from another thread did not lead to a new render"
    assert renders[-1] == NEW, renders
    assert windows and windows[0].caption == "ngfx remote title"


@pytest.mark.display
@needs_display
def test_close_right_after_a_redraw_request_saves_the_new_content(tmp_path):
    """The other thread changes the content, requests a redraw and closes while a frame is being drawn (from
    inside render_fn, after the viewer took this frame's requests): the loop exits without drawing another frame,
    and the screenshot at exit must still show the new content."""
    level, renders = [OLD], []
    handle = ViewerHandle()
    draw = grey_render(level, renders)

    def remote():
        level[0] = NEW
        handle.request_redraw()
        handle.close()

    def render(camera, t):
        out = draw(camera, t)
        if len(renders) == 1:
            thread = threading.Thread(target=remote)
            thread.start()
            thread.join(10)
        return out

    shot = tmp_path / "shot.png"
    run_viewer(render, start_camera(), screenshot=str(shot), frames=10**9, handle=handle,
               on_frame=deadline_guard(30.0))
    image = read_png(shot)
    assert image.shape == (H, W, 3)
    diff = int(np.abs(image.astype(int) - round(NEW * 255)).max())
    assert diff <= 1, f"the screenshot shows the old content (off by {diff} grey levels)"
    assert renders == [OLD, NEW], renders  # one frame drawn, then the screenshot's render of the new content


def test_handle_needs_no_window():
    handle = ViewerHandle()  # requests before (or without) a loop are kept, and never touch pyglet
    handle.request_redraw()
    handle.set_title("t")
    assert not handle.close_requested
    handle.close()
    assert handle.close_requested
