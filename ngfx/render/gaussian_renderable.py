"""Gaussian models in the scene graph: the `gaussians` node type and its Renderable.

Scene file node: {"name": "garden", "type": "gaussians", "path": "point_cloud.ply"} (a 3DGS PLY, or ngfx's
4D extension of it; see `ngfx.splatting.ply`). A 4D model is drawn at the scene time, in the model's own
time units (seconds in ngfx's files). The layer's depth for compositing with other representations is the
median depth of the Gaussians' blend (where their transmittance crosses 0.5), +inf where nothing was drawn.
"""

from pathlib import Path

import numpy as np
import torch

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.nodes import register_node_type
from ngfx.scenes.renderable import RenderContext, RenderOutput

__all__ = ["GaussianRenderable", "load_gaussians_node", "is_gaussian_ply"]


def is_gaussian_ply(path: Path) -> bool:
    """True when a .ply's header carries 3DGS properties (opacity and scale_0), i.e. not a mesh PLY."""
    try:
        with open(path, "rb") as f:
            head = f.read(16384)
    except OSError:
        return False
    header = head.split(b"end_header", 1)[0]
    return b"property" in header and b" opacity" in header and b" scale_0" in header


def load_gaussians_node(node, base_dir):
    """Payload loader of the "gaussians" node type: reads params["path"] (relative to the scene file)."""
    from ngfx.splatting.ply import load_gaussians

    path = node.params.get("path")
    if not isinstance(path, str) or not path:
        raise InputError(f"must be a .ply file path, got {path!r}", field="path",
                         fix='give "path": "point_cloud.ply" (a 3DGS PLY)')
    p = Path(path).expanduser()
    return load_gaussians(p if p.is_absolute() else Path(base_dir or ".") / p)


register_node_type("gaussians", load_gaussians_node, drawable=True)


class GaussianRenderable:
    """Draws one Gaussians3D / Gaussians4D payload; the model is moved to the device once."""

    def __init__(self, model, device: torch.device | None = None):
        from ngfx.kernels import runtime

        self.model = model.to(device or runtime.device())

    def bounds(self, time: float):
        lo, hi = self.model.bounds()
        return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)

    def render(self, camera: Camera, time: float, context: RenderContext) -> RenderOutput:
        from ngfx.splatting.render import render_gaussians

        with torch.no_grad():
            out = render_gaussians(self.model, camera, time=time)
        # the median depth, or the expected depth where the blend never reached T <= 0.5 (thin, faint splats)
        depth = torch.where(out.median_depth > 0, out.median_depth, out.depth)
        depth = torch.where(out.alpha > 0, depth, torch.full_like(depth, float("inf")))
        return RenderOutput(rgb=out.rgb.float(), depth=depth.float(), alpha=out.alpha.float())
