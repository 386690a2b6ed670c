"""Pure-torch NeuS opacity (Wang et al. 2021, "NeuS"; REFERENCE 4.6): the twin of op.neus_alpha, same signature,
differentiable by autograd in sdf, normals_dot_dirs, deltas and inv_s. Used by the tests.

A ray section of length delta (t_end - t_start, world units for unit directions) has the SDF f at its
midpoint and cos = d . grad f there. Sign convention (NeuS's): grad f points out of the surface, so a
direction entering the surface (moving against the outward normal, where the SDF falls along the ray)
gives cos < 0, one leaving it cos > 0. The annealed slope, with r = cos_anneal_ratio,
  iter_cos = -(relu(0.5 - 0.5 cos) (1 - r) + relu(-cos) r)   (<= 0 for every cos)
is the true slope min(cos, 0) at r = 1 (no opacity where the ray leaves the surface) and the relaxed
-(1 - cos) / 2, negative everywhere but head-on exits, at r = 0 (NeuS anneals r from 0 to 1 early in
training). The SDF at the section's ends is estimated linearly,
  f_prev = f - iter_cos delta / 2,   f_next = f + iter_cos delta / 2   (f_prev >= f_next),
and with Phi(x) = sigmoid(inv_s x), the discrete opacity is
  alpha = clamp((Phi(f_prev) - Phi(f_next) + eps) / (Phi(f_prev) + eps), 0, 1),   eps = EPS = 1e-5,
where NeuS adds eps to both numerator and denominator (so alpha -> 1, not 0/0, deep inside the solid where
both Phi underflow, and alpha = eps / (Phi(f_prev) + eps), not 0, where iter_cos = 0). With inv_s > 0 and
delta >= 0 the ratio lies in (0, 1] and neither clamp is strictly active; the lower clamp bites for
negative inv_s or delta, and the upper bound is reached exactly when Phi(f_next) underflows to 0.
Clamp gradients follow torch.clamp: zero outside [0, 1], passed through at the bounds.
"""

import torch
import torch.nn.functional as F

__all__ = ["EPS", "neus_alpha"]

EPS = 1e-5  # NeuS's epsilon, added to both sides of the ratio (module docstring)


def neus_alpha(sdf: torch.Tensor, normals_dot_dirs: torch.Tensor, deltas: torch.Tensor, inv_s,
               *, cos_anneal_ratio: float = 1.0) -> torch.Tensor:
    """NeuS alpha [S] of S sections (module docstring); inv_s is a scalar (tensor) or [S]."""
    r = float(cos_anneal_ratio)
    iter_cos = -(F.relu(-normals_dot_dirs * 0.5 + 0.5) * (1.0 - r) + F.relu(-normals_dot_dirs) * r)
    f_prev = sdf - iter_cos * deltas * 0.5
    f_next = sdf + iter_cos * deltas * 0.5
    inv_s = torch.as_tensor(inv_s, dtype=sdf.dtype, device=sdf.device)
    prev_cdf, next_cdf = torch.sigmoid(f_prev * inv_s), torch.sigmoid(f_next * inv_s)
    return ((prev_cdf - next_cdf + EPS) / (prev_cdf + EPS)).clamp(0.0, 1.0)
