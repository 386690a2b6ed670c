"""Fused 4D slice + projection (`project_gaussians_4d`); reference.py is its pure-torch twin."""

from ngfx.kernels.splat.project4d.op import Projection4D, project_gaussians_4d

__all__ = ["Projection4D", "project_gaussians_4d"]
