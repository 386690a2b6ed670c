"""Pure-torch twin of `preprocess_gaussians`: sigmoid, the project and sh references, then packing."""

import torch

from ngfx.kernels.splat.fused.op import Preprocessed
from ngfx.kernels.splat.project import reference as project_ref
from ngfx.kernels.splat.project4d import reference as project4d_ref
from ngfx.kernels.splat.sh import reference as sh_ref

__all__ = ["add_stats", "preprocess_gaussians", "preprocess_gaussians_4d"]


def add_stats(stats: torch.Tensor, grad_means2d: torch.Tensor, radii: torch.Tensor, width: int, height: int,
              scale: float = 1.0) -> None:
    """The kernels' densification statistics, in place on stats [4, N] (rows grad2d, grad_t, count,
    max_radii): for rows whose integer radii are both > 0, += |grad_means2d * (W/2, H/2)| * scale (INRIA's NDC
    units), += 1, running max of max(radii). grad_t is left alone."""
    visible = (radii > 0).all(dim=-1)
    to_ndc = torch.tensor([0.5 * width, 0.5 * height], dtype=stats.dtype, device=stats.device)
    norm = (grad_means2d.detach().to(stats) * to_ndc * scale).norm(dim=-1)
    stats[0] += torch.where(visible, norm, 0.0)
    stats[2] += visible.to(stats)
    stats[3] = torch.maximum(stats[3], torch.where(visible, radii.max(dim=-1).values.to(stats), 0.0))


def _with_stats(pre: Preprocessed, stats, scale: float, width: int, height: int) -> Preprocessed:
    """Add the statistics when the rows' gradient arrives (the kernels do it in their backward)."""
    if stats is not None and pre.rows.requires_grad:
        radii = pre.radii
        pre.rows.register_hook(lambda g: add_stats(stats, g[:, 0:2], radii, width, height, scale))
    return pre


def preprocess_gaussians(means, log_scales, quats, opacity_logits, sh_dc, sh_rest, T_camera_world, intrinsics,
                         width: int, height: int, *, degree: int, near: float = 0.01, far: float = 1e10,
                         radius_sigmas: float = 3.0, antialiased: bool = False, stats=None,
                         stats_scale: float = 1.0) -> Preprocessed:
    """Same signature and outputs as op.preprocess_gaussians."""
    proj = project_ref.project_gaussians(means, log_scales, quats, torch.sigmoid(opacity_logits), T_camera_world,
                                         intrinsics, width, height, near=near, far=far,
                                         radius_sigmas=radius_sigmas, antialiased=antialiased)
    T = torch.as_tensor(T_camera_world, dtype=torch.float64)
    centre = torch.linalg.solve(T[:3, :3], -T[:3, 3]).to(means)  # R may hold a node's scale
    visible = (proj.radii > 0).any(dim=1)
    rgb = sh_ref.eval_sh(means, torch.cat([sh_dc, sh_rest], 1), centre, degree, visible=visible)
    rows = torch.cat([proj.means2d, proj.conics, proj.opacities[:, None], rgb, proj.depths[:, None]], dim=1)
    return _with_stats(Preprocessed(rows=rows, radii=proj.radii), stats, stats_scale, width, height)


def preprocess_gaussians_4d(means4, log_scales4, rotations, opacity_logits, sh_dc, sh_rest, time: float,
                            T_camera_world, intrinsics, width: int, height: int, *, rotation: str, degree: int,
                            min_temporal_weight: float = 0.05, near: float = 0.01, far: float = 1e10,
                            radius_sigmas: float = 3.0, antialiased: bool = False, stats=None,
                            stats_scale: float = 1.0) -> Preprocessed:
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
    return _with_stats(Preprocessed(rows=rows, radii=proj.radii), stats, stats_scale, width, height)
