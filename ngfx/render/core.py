"""The render core: draw a Scene at (camera, time) by compositing every visible Renderable by depth.

Both front-ends use it: `ngfx render` (headless) and the viewer call `SceneRenderer.render` the same way.
Representations plug in with `register_renderer(payload_type, factory)`; meshes and Gaussians are
registered here, fields will register from their own packages.
"""

import numpy as np
import torch

from ngfx.kernels import runtime
from ngfx.render.gaussian_renderable import GaussianRenderable
from ngfx.render.mesh_renderable import MeshRenderable, render_meshes
from ngfx.scenes.camera import Camera
from ngfx.scenes.mesh import TriMesh
from ngfx.scenes.renderable import Light, RenderContext, RenderOutput
from ngfx.splatting.model import Gaussians3D
from ngfx.splatting.model4d import Gaussians4D

__all__ = ["SceneRenderer", "composite", "register_renderer"]

_RENDERERS: dict[type, object] = {}


def register_renderer(payload_type: type, factory) -> None:
    """`factory(payload, device) -> Renderable` draws node payloads of `payload_type`."""
    _RENDERERS[payload_type] = factory


register_renderer(TriMesh, MeshRenderable)
register_renderer(Gaussians3D, GaussianRenderable)
register_renderer(Gaussians4D, GaussianRenderable)


def composite(layers: list[RenderOutput], background, height: int, width: int, device) -> RenderOutput:
    """Per pixel, sort layers by depth and blend them front to back over the background.

    Layer colours are premultiplied by their alpha. The output depth is that of the nearest layer with
    any coverage (+inf where none), the output alpha the total coverage.
    """
    bg = torch.as_tensor(background, dtype=torch.float32, device=device)
    if not layers:
        return RenderOutput(rgb=bg.expand(height, width, 3).clone(),
                            depth=torch.full((height, width), float("inf"), device=device),
                            alpha=torch.zeros((height, width), device=device))
    depth = torch.stack([layer.depth.float() for layer in layers])  # [L, H, W]
    alpha = torch.stack([layer.alpha.float() for layer in layers])
    rgb = torch.stack([layer.rgb.float() for layer in layers])  # [L, H, W, 3]
    if len(layers) > 1:
        depth, order = torch.sort(depth, dim=0, stable=True)
        alpha = torch.gather(alpha, 0, order)
        rgb = torch.gather(rgb, 0, order[..., None].expand_as(rgb))
    transmittance = torch.cumprod(torch.cat([torch.ones_like(alpha[:1]), 1.0 - alpha[:-1]]), dim=0)
    color = (transmittance[..., None] * rgb).sum(0)
    total_alpha = 1.0 - transmittance[-1] * (1.0 - alpha[-1])
    first = torch.where(alpha > 0, depth, torch.full_like(depth, float("inf"))).min(dim=0).values
    return RenderOutput(rgb=color + (1.0 - total_alpha)[..., None] * bg, depth=first, alpha=total_alpha)


class SceneRenderer:
    """Renders one Scene; keeps each node's renderable on the device between frames."""

    def __init__(self, scene, *, device: torch.device | None = None, ambient: float = 0.25):
        self.scene = scene
        self.device = device or runtime.device()
        self.ambient = ambient
        self._cache: dict[int, object] = {}

    def renderable(self, payload):
        """The device-side renderable of a node payload (built once)."""
        key = id(payload)
        if key not in self._cache:
            factory = next((f for t, f in _RENDERERS.items() if isinstance(payload, t)), None)
            if factory is None:
                raise TypeError(f"no renderer registered for {type(payload).__name__}")
            self._cache[key] = (payload, factory(payload, self.device))
        return self._cache[key][1]

    def lights(self, camera: Camera, time: float) -> tuple[Light, ...]:
        """The scene's directional lights, turned into the camera frame."""
        out = []
        for light, T_world_node in self.scene.lights(time):
            d_world = T_world_node[:3, :3] @ np.asarray(light.direction, dtype=np.float64)
            d_cam = camera.T_camera_world[:3, :3] @ d_world
            intensity = float(getattr(light, "intensity", 1.0))
            out.append(Light(direction=d_cam / max(np.linalg.norm(d_cam), 1e-12),
                             color=tuple(intensity * np.asarray(light.color, dtype=np.float64))))
        return tuple(out)

    def render(self, camera: Camera, time: float | None = None, *, background=None) -> RenderOutput:
        """Draw every visible node at `time` (default: the camera's time, else 0) seen from `camera`."""
        t = float(time if time is not None else (camera.time if camera.time is not None else 0.0))
        context = RenderContext(lights=self.lights(camera, t), ambient=self.ambient, device=self.device)
        layers, meshes = [], []
        for _path, node, T_world_node in self.scene.drawables(t):
            T_camera_node = camera.T_camera_world @ T_world_node
            renderable = self.renderable(node.payload)
            if isinstance(renderable, MeshRenderable):  # meshes share one z-buffer
                meshes.append((renderable, T_camera_node))
            else:
                layers.append(renderable.render(camera.replace(T_camera_world=T_camera_node), t, context))
        if meshes:
            layers.append(render_meshes(meshes, camera, context))
        bg = background if background is not None else getattr(self.scene, "background", (0.0, 0.0, 0.0))
        return composite(layers, bg, camera.height, camera.width, self.device)
