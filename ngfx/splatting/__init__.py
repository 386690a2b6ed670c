"""Static (3D) and dynamic (4D, XYZT) Gaussian splatting: models, PLY files and rendering.

Models hold raw parameters (`ngfx.splatting.model`, `ngfx.splatting.model4d`); PLY files use the INRIA 3DGS
layout plus ngfx's 4D extension (`ngfx.splatting.ply`); `render_gaussians` draws a model from a Camera,
differentiably (`ngfx.splatting.render`); `ngfx.splatting.synthetic` makes small models in code.
Importing this package loads torch and numpy only (Taichi starts on the first render).
"""

from ngfx.splatting.model import RENDER_MODES, Gaussians3D
from ngfx.splatting.model4d import ROTATIONS_4D, Gaussians4D, normalize_rotor
from ngfx.splatting.ply import load_gaussians, save_gaussians
from ngfx.splatting.render import SplatRender, render_gaussians
from ngfx.splatting.validate import MAX_LOG_SCALE

__all__ = [
    "MAX_LOG_SCALE",
    "RENDER_MODES",
    "ROTATIONS_4D",
    "Gaussians3D",
    "Gaussians4D",
    "load_gaussians",
    "normalize_rotor",
    "render_gaussians",
    "save_gaussians",
    "SplatRender",
]
