"""Pure-torch twin of `project_gaussians_4d`: the slice4d reference, then the project reference."""

import torch

from ngfx.kernels.splat.project import reference as project_ref
from ngfx.kernels.splat.project4d.op import Projection4D
from ngfx.kernels.splat.slice4d import reference as slice_ref

__all__ = ["project_gaussians_4d"]


def project_gaussians_4d(means4, log_scales4, rotations, opacities, time: float, T_camera_world, intrinsics,
                         width: int, height: int, *, rotation: str = "dualquat", min_temporal_weight: float = 0.05,
                         near: float = 0.01, far: float = 1e10, radius_sigmas: float = 3.0,
                         antialiased: bool = False) -> Projection4D:
    """Same signature and outputs as op.project_gaussians_4d (see there)."""
    sliced = slice_ref.slice_gaussians_4d(means4, log_scales4, rotations, opacities, time, rotation=rotation,
                                          min_temporal_weight=min_temporal_weight)
    proj = project_ref.project_gaussians(sliced.means, None, None, sliced.opacities, T_camera_world, intrinsics,
                                         width, height, covars=sliced.covars, near=near, far=far,
                                         radius_sigmas=radius_sigmas, antialiased=antialiased)
    means3d = torch.where(sliced.visible[:, None], sliced.means, torch.zeros_like(sliced.means))
    return Projection4D(projection=proj, means3d=means3d, visible=(proj.radii > 0).any(dim=1))
