"""Interactive viewer: a pyglet window around a `render_fn(camera, time) -> RenderOutput`.

`run_viewer` opens the window, and a `ViewerHandle` lets other threads redraw, retitle or close it;
`CameraController`, `ViewerState` and `AdaptiveResolution` hold the input, playback and resolution logic and
work without a display. pyglet is imported only when a window opens.
"""

from ngfx.viewer.app import ViewerHandle, run_viewer
from ngfx.viewer.controls import CameraController
from ngfx.viewer.state import AdaptiveResolution, ViewerState

__all__ = ["run_viewer", "ViewerHandle", "CameraController", "ViewerState", "AdaptiveResolution"]
