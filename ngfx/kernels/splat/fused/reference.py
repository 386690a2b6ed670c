"""Pure-torch twin of `preprocess_gaussians`: sigmoid, the project and sh references, then packing."""

import torch

from ngfx.kernels.splat.fused.op import Preprocessed
from ngfx.kernels.splat.project import reference as project_ref
from ngfx.kernels.splat.project4d import reference as project4d_ref
from ngfx.kernels.splat.sh import reference as sh_ref

__all__ = ["preprocess_gaussians", "preprocess_gaussians_4d"]


def preprocess_gaussians(means, log_scales, quats, opacity_logits, sh_dc, sh_rest, T_camera_world, intrinsics,
                         width: int, height: int, *, degree: int, near: float = 0.01, far: float = 1e10,
                         radius_sigmas: float = 3.0, antialiased: bool = False) -> Preprocessed:
    """Same signature and outputs as op.preprocess_gaussians."""
    proj = project_ref.project_gaussians(means, log_scales, quats, torch.sigmoid(opacity_logits), T_camera_world,
                                         intrinsics, width, height, near=near, far=far,
                                         radius_sigmas=radius_sigmas, antialiased=antialiased)
    T = torch.as_tensor(T_camera_world, dtype=torch.float64)
    centre = torch.linalg.solve(T[:3, :3], -T[:3, 3]).to(means)  # R may hold a node's scale
    visible = (proj.radii > 0).any(dim=1)
    rgb = sh_ref.eval_sh(means, torch.cat([sh_dc, sh_rest], 1), centre, degree, visible=visible)
    rows = torch.cat([proj.means2d, proj.conics, proj.opacities[:, None], rgb, proj.depths[:, None]], dim=1)
    return Preprocessed(rows=rows, radii=proj.radii)


def preprocess_gaussians_4d(means4, log_scales4, rotations, opacity_logits, sh_dc, sh_rest, time: float,
                            T_camera_world, intrinsics, width: int, height: int, *, rotation: str, degree: int,
                            min_temporal_weight: float = 0.05, near: float = 0.01, far: float = 1e10,
                            radius_sigmas: float = 3.0, antialiased: bool = False) -> Preprocessed:
    """Same signature and outputs as op.preprocess_gaussians_4d."""
    p4 = project4d_ref.project_gaussians_4d(means4, log_scales4, rotations, torch.sigmoid(opacity_logits), time,
                                            T_camera_world, intrinsics, width, height, rotation=rotation,
                                            min_temporal_weight=min_temporal_weight, near=near, far=far,
                                            radius_sigmas=radius_sigmas, antialiased=antialiased)
    proj = p4.projection
    T = torch.as_tensor(T_camera_world, dtype=torch.float64)
    centre = torch.linalg.solve(T[:3, :3], -T[:3, 3]).to(means4)
    rgb = sh_ref.eval_sh(p4.means3d, torch.cat([sh_dc, sh_rest], 1), centre, degree, visible=p4.visible)
    rows = torch.cat([proj.means2d, proj.conics, proj.opacities[:, None], rgb, proj.depths[:, None]], dim=1)
    return Preprocessed(rows=rows, radii=proj.radii)
