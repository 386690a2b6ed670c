"""Pure-torch 4D Gaussian slicing: same signature and outputs as `ngfx.kernels.splat.slice4d.slice_gaussians_4d`.

A 4D Gaussian over (x, y, z, t) with mean mu, log scales s4 and rotation R4 has
Sigma4 = (R4 S4)(R4 S4)^T = [[U, V], [V^T, w4]], S4 = diag(exp s4). Conditioned on time t (REFERENCE 3.3):
mean mu_xyz + v (t - mu_t) with velocity v = V / w4, covariance U - V V^T / w4 (independent of t) and
temporal weight p(t) = exp(-0.5 (t - mu_t)^2 / w4) (no 1/sqrt(2 pi w4): both papers' codes drop it).
Rotations, [N, 8], act on column vectors (x, y, z, t):
- "dualquat" (Yang et al., ICLR 2024): (q_l, q_r), both wxyz, each normalized; R4 = L(q_l) R(q_r), the
  left- and right-multiplication matrices of quaternions, so R4 v = q_l v q_r with v = x + y i + z j + t k.
- "rotor" (Duan et al., SIGGRAPH 2024): (s, b_xy, b_xz, b_yz, b_xw, b_yw, b_zw, p) = scalar, bivector,
  pseudoscalar; normalized as REFERENCE 3.2 (grade-4 removal when |eps| > 1e-7, then / (|r| + 1e-7));
  R4 is the transpose of REFERENCE 3.2's table (what Duan's code returns and uses as R in R S).
Everything here is differentiable by autograd; `visible` is not.
"""

import torch

from ngfx.kernels.splat.slice4d.op import Slice

__all__ = [
    "COV6_COLS",
    "COV6_ROWS",
    "Slice",
    "normalize_rotor",
    "quat_to_dualquat",
    "quat_to_rotor",
    "rotation_matrix_4d",
    "slice_gaussians_4d",
]

ROTOR_EPS = 1e-7
COV6_ROWS, COV6_COLS = (0, 0, 0, 1, 1, 2), (0, 1, 2, 1, 2, 2)  # xx, xy, xz, yy, yz, zz


def _left(a: torch.Tensor) -> torch.Tensor:
    """[N, 4] wxyz -> [N, 4, 4] matrix of v -> a v (REFERENCE 3.1's L)."""
    w, x, y, z = a.unbind(-1)
    return torch.stack([torch.stack(r, -1) for r in ((w, -x, -y, -z), (x, w, -z, y), (y, z, w, -x),
                                                      (z, -y, x, w))], -2)


def _right(b: torch.Tensor) -> torch.Tensor:
    """[N, 4] wxyz -> [N, 4, 4] matrix of v -> v b (REFERENCE 3.1's R)."""
    w, x, y, z = b.unbind(-1)
    return torch.stack([torch.stack(r, -1) for r in ((w, -x, -y, -z), (x, w, z, -y), (y, -z, w, x),
                                                      (z, y, -x, w))], -2)


def normalize_rotor(rotors: torch.Tensor) -> torch.Tensor:
    """Duan's normalization of [N, 8] rotors (module docstring); delta in its cancellation-free form."""
    s, bxy, bxz, byz, bxw, byw, bzw, p = rotors.unbind(-1)
    eps = p * s - bxy * bzw + bxz * byw - bxw * byz
    l2 = rotors.square().sum(-1)
    root = torch.sqrt(torch.clamp(l2 * l2 - 4.0 * eps * eps, min=0.0))
    delta = -2.0 * eps / torch.clamp(l2 + root, min=1e-30)  # == (root - l2) / (2 eps)
    delta = torch.where(eps.abs() > ROTOR_EPS, delta, torch.zeros_like(delta))
    fixed = torch.stack([s + delta * p, bxy - delta * bzw, bxz + delta * byw, byz - delta * bxw,
                         bxw - delta * byz, byw + delta * bxz, bzw - delta * bxy, p + delta * s], -1)
    return fixed / (fixed.norm(dim=-1, keepdim=True) + ROTOR_EPS)


def _rotor_table(r: torch.Tensor) -> torch.Tensor:
    """REFERENCE 3.2's table r[row][col], as printed, for normalized rotors [N, 8] -> [N, 4, 4]."""
    s, bxy, bxz, byz, bxw, byw, bzw, p = r.unbind(-1)
    ss, xxy, xxz, xyz, xxw, xyw, xzw, pp = (c * c for c in (s, bxy, bxz, byz, bxw, byw, bzw, p))
    rows = (
        (ss - xxy - xxz - xxw + xyz + xyw + xzw - pp, -2 * (bxy * s + bxz * byz + bxw * byw + bzw * p),
         2 * (bxy * byz - bxz * s - bxw * bzw + byw * p), 2 * (bxy * byw + bxz * bzw - bxw * s - byz * p)),
        (2 * (bxy * s - bxz * byz - bxw * byw + bzw * p), ss - xxy + xxz + xxw - xyz - xyw + xzw - pp,
         -2 * (bxy * bxz + bxw * p + byw * bzw + byz * s), 2 * (-bxy * bxw + bxz * p + byz * bzw - byw * s)),
        (2 * (bxy * byz + bxz * s - bxw * bzw - byw * p), 2 * (-bxy * bxz + bxw * p + byz * s - byw * bzw),
         ss + xxy - xxz + xxw - xyz + xyw - xzw - pp, -2 * (bxy * p + bxz * bxw + byz * byw + bzw * s)),
        (2 * (bxy * byw + bxz * bzw + bxw * s + byz * p), 2 * (-bxy * bxw - bxz * p + byz * bzw + byw * s),
         2 * (bxy * p - bxz * bxw - byw * byz + bzw * s), ss + xxy + xxz - xxw + xyz - xyw - xzw - pp))
    return torch.stack([torch.stack(row, -1) for row in rows], -2)


def rotation_matrix_4d(rotations: torch.Tensor, rotation: str) -> torch.Tensor:
    """[N, 8] "dualquat" or "rotor" parameters -> [N, 4, 4] rotation of column vectors (x, y, z, t)."""
    assert rotations.shape[-1] == 8, rotations.shape
    if rotation == "dualquat":
        q_l = torch.nn.functional.normalize(rotations[..., :4], dim=-1, eps=1e-30)
        q_r = torch.nn.functional.normalize(rotations[..., 4:], dim=-1, eps=1e-30)
        return _left(q_l) @ _right(q_r)
    if rotation == "rotor":
        return _rotor_table(normalize_rotor(rotations)).transpose(-1, -2)
    raise ValueError(f"rotation must be 'dualquat' or 'rotor', got {rotation!r}")


def quat_to_rotor(quats: torch.Tensor) -> torch.Tensor:
    """3D rotations, wxyz [N, 4] -> rotors [N, 8] with zero time parts whose R4 is diag(R3(q), 1)."""
    w, x, y, z = quats.unbind(-1)
    zero = torch.zeros_like(w)
    return torch.stack([w, -z, y, -x, zero, zero, zero, zero], -1)


def quat_to_dualquat(quats: torch.Tensor) -> torch.Tensor:
    """3D rotations, wxyz [N, 4] -> (q_l, q_r) [N, 8] whose R4 = L(q_l) R(q_r) is diag(R3(q), 1).

    Derivation: R4 v = q_l v q_r must fix t = the k-component of v. Writing v = u k with u in span(1, i, j),
    the map v -> a v k~ a~ k fixes k for any unit a and acts on (x, y, z) as the 3D rotation of a conjugated
    by Q = (x, y, z) -> (z, -y, x) (a half turn about (1, 0, 1)). Choosing a = Q q Q^-1 = (w, z, -y, x) gives
    R3(q); then q_l = a and q_r = k~ a~ k = (w, z, -y, -x).
    """
    w, x, y, z = quats.unbind(-1)
    return torch.stack([w, z, -y, x, w, z, -y, -x], -1)


def slice_gaussians_4d(means4: torch.Tensor, log_scales4: torch.Tensor, rotations: torch.Tensor,
                       opacities: torch.Tensor, time: float, *, rotation: str = "dualquat",
                       min_temporal_weight: float = 0.05) -> Slice:
    """Condition 4D Gaussians on time `time` (module docstring); rows with p(t) <= min_temporal_weight are
    culled: visible False, opacity 0 (means, covars and velocities are still filled)."""
    rot = rotation_matrix_4d(rotations, rotation)
    m = rot * torch.exp(log_scales4)[:, None, :]
    sigma = m @ m.transpose(-1, -2)
    w4 = sigma[:, 3, 3]
    v_col = sigma[:, :3, 3]
    velocities = v_col / w4[:, None]
    cond = sigma[:, :3, :3] - v_col[:, :, None] * velocities[:, None, :]
    dt = time - means4[:, 3]
    weight = torch.exp(-0.5 * dt * dt / w4)
    visible = weight > min_temporal_weight
    return Slice(means=means4[:, :3] + velocities * dt[:, None],
                 covars=cond[:, list(COV6_ROWS), list(COV6_COLS)],
                 opacities=torch.where(visible, opacities * weight, torch.zeros_like(weight)),
                 visible=visible, velocities=velocities)

