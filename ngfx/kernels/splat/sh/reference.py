"""Pure-torch reference of SH colour: same signatures and outputs as `ngfx.kernels.splat.sh` (autograd backward).

3D (INRIA, REFERENCE 2.2): d = normalize(mean - cam_position) (world axes; the distance is clamped below by
MIN_DISTANCE so a mean at the camera gives d = 0), colour = max(0, sum_k coeffs[:, k] Y_k(d) + 0.5) over
k < (degree + 1)^2, in the REFERENCE order (real SH with the Condon-Shortley phase, m = -l..l).
4D (Yang, REFERENCE 3.4): basis cos(2 pi n dt / duration) Y_k(d), n = 0..degree_t, coefficient rows
time-major (row n (degree + 1)^2 + k); dt = mu_t - t. Masked-out rows (visible false) are 0.
"""

import math

import torch

from ngfx.kernels.splat.sh.kernels import MIN_DISTANCE, SH_C0, SH_C1, SH_C2, SH_C3

__all__ = ["eval_sh", "eval_sh_4d", "sh_basis", "view_directions"]


def view_directions(means: torch.Tensor, cam_position) -> torch.Tensor:
    """[N, 3] unit directions from the camera centre to each mean (zero for a mean at the centre)."""
    v = means - torch.as_tensor(cam_position, dtype=means.dtype, device=means.device)
    return v / v.norm(dim=-1, keepdim=True).clamp_min(MIN_DISTANCE)


def sh_basis(dirs: torch.Tensor, degree: int) -> torch.Tensor:
    """[N, (degree + 1)^2] real SH basis at unit directions, REFERENCE 2.2 order and constants."""
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, SH_C0)]
    if degree >= 1:
        out += [-SH_C1 * y, SH_C1 * z, -SH_C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        out += [SH_C2[0] * x * y, SH_C2[1] * y * z, SH_C2[2] * (2 * zz - xx - yy), SH_C2[3] * x * z,
                SH_C2[4] * (xx - yy)]
    if degree >= 3:
        out += [SH_C3[0] * y * (3 * xx - yy), SH_C3[1] * x * y * z, SH_C3[2] * y * (4 * zz - xx - yy),
                SH_C3[3] * z * (2 * zz - 3 * xx - 3 * yy), SH_C3[4] * x * (4 * zz - xx - yy),
                SH_C3[5] * z * (xx - yy), SH_C3[6] * x * (xx - 3 * yy)]
    return torch.stack(out, dim=-1)


def _shade(basis: torch.Tensor, coeffs: torch.Tensor, visible) -> torch.Tensor:
    """max(0, basis . coeffs + 0.5) per channel; rows beyond the basis ignored; masked rows 0."""
    raw = torch.einsum("nk,nkc->nc", basis, coeffs[:, : basis.shape[1]])
    colors = torch.clamp_min(raw + 0.5, 0.0)
    if visible is not None:
        colors = torch.where(visible.to(torch.bool)[:, None], colors, torch.zeros_like(colors))
    return colors


def eval_sh(means, coeffs, cam_position, degree: int, *, visible=None) -> torch.Tensor:
    """[N, C] colours of SH degree `degree` seen from cam_position (module docstring)."""
    return _shade(sh_basis(view_directions(means, cam_position), degree), coeffs, visible)


def eval_sh_4d(means, coeffs, cam_position, degree: int, dt, duration: float, degree_t: int, *,
               visible=None) -> torch.Tensor:
    """[N, C] colours of 4D spherindrical harmonics (module docstring)."""
    spatial = sh_basis(view_directions(means, cam_position), degree)  # [N, nb]
    n = torch.arange(degree_t + 1, dtype=means.dtype, device=means.device)
    temporal = torch.cos(2 * math.pi / duration * dt[:, None] * n)  # [N, nt]
    basis = (temporal[:, :, None] * spatial[:, None, :]).reshape(means.shape[0], -1)
    return _shade(basis, coeffs, visible)
