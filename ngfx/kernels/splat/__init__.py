"""Gaussian splatting kernels, one sub-package per op (DESIGN.md is the contract between them).

project -> (project4d: slice + project fused for xyzt Gaussians) -> sh -> tiles -> rasterize; each op has a
Taichi kernel with a backward pass and a pure-torch `reference` of the same signature. Importing this
package imports no taichi; the ops initialise the runtime on first use.
"""

from ngfx.kernels.splat.project import Projection, project_gaussians
from ngfx.kernels.splat.project4d import Projection4D, project_gaussians_4d
from ngfx.kernels.splat.rasterize import rasterize_gaussians
from ngfx.kernels.splat.sh import eval_sh, eval_sh_4d
from ngfx.kernels.splat.slice4d import Slice, slice_gaussians_4d
from ngfx.kernels.splat.tiles import TileMap, map_to_tiles

__all__ = ["Projection", "Projection4D", "Slice", "TileMap", "eval_sh", "eval_sh_4d", "map_to_tiles",
           "project_gaussians", "project_gaussians_4d", "rasterize_gaussians", "slice_gaussians_4d"]
