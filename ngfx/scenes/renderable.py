"""The Renderable protocol: anything the render core can draw, and what drawing returns.

A renderable draws itself in its own frame: the core hands it a camera whose `T_camera_world` maps the
renderable's local frame into the camera (it may hold the node's scale), so renderables never see the
scene graph. Depth is camera-space z in the camera's (world) units, +inf where nothing was drawn.
"""

import dataclasses
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from ngfx.scenes.camera import Camera

__all__ = ["RenderOutput", "Renderable", "Light", "RenderContext"]


@dataclasses.dataclass(frozen=True)
class RenderOutput:
    """rgb [H, W, 3] in [0, 1], premultiplied by alpha; depth [H, W] camera z (+inf: empty); alpha [H, W]."""

    rgb: torch.Tensor
    depth: torch.Tensor
    alpha: torch.Tensor


@dataclasses.dataclass(frozen=True)
class Light:
    """A directional light: `direction` is where the light travels, in the camera frame; colour is linear."""

    direction: np.ndarray
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class RenderContext:
    """Per-frame state shared by every renderable. No lights means a headlight at the camera."""

    lights: tuple[Light, ...] = ()
    ambient: float = 0.25
    device: torch.device = torch.device("cpu")


@runtime_checkable
class Renderable(Protocol):
    def render(self, camera: Camera, time: float, context: RenderContext) -> RenderOutput:
        """Draw at `time` (seconds) from `camera` (local frame, see the module docstring)."""
        ...

    def bounds(self, time: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Axis-aligned (min, max) in the local frame, or None when unknown."""
        ...
