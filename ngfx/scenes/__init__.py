"""Scene description: cameras in one convention, the scene graph, scene files and mesh loading."""

from ngfx.scenes.camera import Camera
from ngfx.scenes.renderable import Light, Renderable, RenderContext, RenderOutput

__all__ = ["Camera", "Light", "Renderable", "RenderContext", "RenderOutput"]
