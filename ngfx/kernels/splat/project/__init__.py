"""3D Gaussian projection (EWA splatting, Taichi) with a pure-torch reference in `reference.py`.

`kernels.make_project_funcs` exposes the per-Gaussian math as @ti.func's for fused kernels (4D slicing).
"""

from ngfx.kernels.splat.project.op import Projection, project_gaussians

__all__ = ["Projection", "project_gaussians"]
