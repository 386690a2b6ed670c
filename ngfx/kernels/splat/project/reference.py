"""Pure-torch reference of `project_gaussians`: same signature and outputs, differentiable by autograd.

Method (kernels.py does the same per Gaussian; REFERENCE 2.1, 2.6): p = R_cw mu + t_cw in the OpenCV
camera frame; Sigma = R S S^T R^T from the normalised wxyz quat and S = diag(exp(log_scales)), or the given
covariance; the perspective Jacobian J at p with x/z, y/z clamped to the frustum widened by 0.3 tan(fov / 2)
on each side (off-centre principal point as gsplat 1.x); Sigma2 = J R_cw Sigma R_cw^T J^T + 0.3 I; conic =
inverse Sigma2; rho = sqrt(max(det Sigma2_raw, 0) / det Sigma2) when antialiased; per-axis radii
ceil(min(radius_sigmas, sqrt(2 ln(255 o))) sqrt(Sigma2_ii)). Culled rows are zeros. Every culled value is
replaced by a safe one before any division, log or sqrt, so autograd never mixes 0 with inf into NaN.
"""

import torch

from ngfx.kernels.splat.project.op import Projection

__all__ = ["cov3_from_scale_quat", "cov6_to_mat3", "project_gaussians", "quat_to_rotmat"]

ALPHA_MIN = 1.0 / 255.0
EPS2D = 0.3
FOV_MARGIN = 0.3


def quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    """[N, 4] unnormalised wxyz -> [N, 3, 3] rotation matrices."""
    w, x, y, z = (quats / quats.norm(dim=-1, keepdim=True)).unbind(-1)
    rows = [(1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)),
            (2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)),
            (2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y))]
    return torch.stack([torch.stack(r, -1) for r in rows], -2)


def cov3_from_scale_quat(log_scales: torch.Tensor, quats: torch.Tensor) -> torch.Tensor:
    """World covariances R S S^T R^T, packed [N, 6] (xx, xy, xz, yy, yz, zz)."""
    m = quat_to_rotmat(quats) * log_scales.exp()[:, None, :]
    c = m @ m.transpose(-1, -2)
    return torch.stack([c[:, 0, 0], c[:, 0, 1], c[:, 0, 2], c[:, 1, 1], c[:, 1, 2], c[:, 2, 2]], -1)


def cov6_to_mat3(cov6: torch.Tensor) -> torch.Tensor:
    """[N, 6] packed upper triangles -> [N, 3, 3] symmetric matrices."""
    xx, xy, xz, yy, yz, zz = cov6.unbind(-1)
    return torch.stack([torch.stack(r, -1) for r in ((xx, xy, xz), (xy, yy, yz), (xz, yz, zz))], -2)


def _ewa_cov2(p, cov_cam, fx, fy, cx, cy, width, height):
    """Undilated Sigma2 entries (xx, xy, yy) [N, 3] with the clamped Jacobian (p.z > 0 everywhere)."""
    tan_x, tan_y = 0.5 * width / fx, 0.5 * height / fy
    x, y, z = p.unbind(-1)
    tx = z * (x / z).clamp(-(cx / fx + FOV_MARGIN * tan_x), (width - cx) / fx + FOV_MARGIN * tan_x)
    ty = z * (y / z).clamp(-(cy / fy + FOV_MARGIN * tan_y), (height - cy) / fy + FOV_MARGIN * tan_y)
    zero = torch.zeros_like(z)
    jac = torch.stack([torch.stack([fx / z, zero, -fx * tx / (z * z)], -1),
                       torch.stack([zero, fy / z, -fy * ty / (z * z)], -1)], -2)  # [N, 2, 3]
    s2 = jac @ cov_cam @ jac.transpose(-1, -2)
    return torch.stack([s2[:, 0, 0], s2[:, 0, 1], s2[:, 1, 1]], -1)


def project_gaussians(means, log_scales, quats, opacities, T_camera_world, intrinsics, width: int,
                      height: int, *, covars=None, near: float = 0.01, far: float = 1e10,
                      radius_sigmas: float = 3.0, antialiased: bool = False) -> Projection:
    """Same contract as `ngfx.kernels.splat.project.project_gaussians` (module docstring for the method)."""
    dtype = means.dtype
    T = torch.as_tensor(T_camera_world).to(means.device, dtype)
    R_cw, t_cw = T[:3, :3], T[:3, 3]
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    cov6 = cov3_from_scale_quat(log_scales, quats) if covars is None else covars
    p = means @ R_cw.T + t_cw
    keep = (p[:, 2] > near) & (p[:, 2] < far)
    p = torch.where(keep[:, None], p, torch.ones_like(p))  # safe stand-in for culled rows
    s2 = _ewa_cov2(p, R_cw @ cov6_to_mat3(cov6) @ R_cw.T, fx, fy, cx, cy, float(width), float(height))
    det_raw = s2[:, 0] * s2[:, 2] - s2[:, 1] * s2[:, 1]
    a, b, c = s2[:, 0] + EPS2D, s2[:, 1], s2[:, 2] + EPS2D
    det = a * c - b * b
    keep = keep & (det > 0)
    det = torch.where(keep, det, torch.ones_like(det))
    rho = torch.ones_like(det)
    if antialiased:
        positive = det_raw > 0
        rho = torch.where(positive, (torch.where(positive, det_raw, det) / det).sqrt(), torch.zeros_like(det))
    o = opacities * rho
    keep = keep & (o >= ALPHA_MIN)
    with torch.no_grad():  # radii are integers: no gradient
        o_safe = torch.where(keep, o, torch.ones_like(o))
        extent = (2.0 * torch.log(255.0 * o_safe)).sqrt().clamp(max=radius_sigmas)
        radii = torch.ceil(extent[:, None] * torch.stack([a, c], -1).sqrt())
    rz = 1.0 / p[:, 2]
    mean2d = torch.stack([fx * p[:, 0] * rz + cx, fy * p[:, 1] * rz + cy], -1)
    lo, hi = mean2d - radii, mean2d + radii
    on_image = (hi[:, 0] > 0) & (lo[:, 0] < width) & (hi[:, 1] > 0) & (lo[:, 1] < height)
    keep = keep & on_image & (radii > 0).any(-1)
    conic = torch.stack([c, -b, a], -1) * (1.0 / det)[:, None]
    zero = torch.zeros((), dtype=dtype, device=means.device)
    return Projection(means2d=torch.where(keep[:, None], mean2d, zero),
                      conics=torch.where(keep[:, None], conic, zero), depths=torch.where(keep, p[:, 2], zero),
                      radii=torch.where(keep[:, None], radii, 0).to(torch.int32),
                      opacities=torch.where(keep, o, zero))
