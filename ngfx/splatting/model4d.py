"""Dynamic XYZT Gaussians (REFERENCE 3): raw parameters of 4D Gaussians that are sliced at a time t.

| raw field        | shape        | activation (property)                                            |
|------------------|--------------|------------------------------------------------------------------|
| `means4`         | [N, 4]       | x, y, z (world units) and t (seconds); `means` / `times` views   |
| `log_scales`     | [N, 4]       | `scales` = exp, along the rotated x, y, z, t axes                |
| `rotations`      | [N, 8]       | `unit_rotations`, see below                                      |
| `opacity_logits` | [N]          | `opacities` = sigmoid                                            |
| `sh_dc`, `sh_rest` | [N,1,3], [N,K-1,3] | `sh_coeffs` [N, K, 3], K = (sh_degree_t + 1)(sh_degree + 1)^2 |

`rotation` names the parameterization of `rotations`:
- "dualquat" (Yang et al. 2024): (q_l wxyz, q_r wxyz), R4 = L(q_l) R(q_r); identity (1,0,0,0, 1,0,0,0).
- "rotor" (Duan et al. 2024): (s, b_xy, b_xz, b_yz, b_xw, b_yw, b_zw, p); identity (1, 0, ..., 0).

Colour layout (Yang's 4D spherindrical harmonics, REFERENCE 3.4), time-major: with B = (sh_degree + 1)^2,
row n * B + k of `sh_coeffs` multiplies cos(2 pi n dt / duration) Y_k(d) for n in 0..sh_degree_t, where
dt = mu_t - t. Row 0 is `sh_dc`; rows 1.. are `sh_rest`, so `sh_rest` holds the spatial rest of block 0 and
then the whole blocks n = 1..sh_degree_t. sh_degree_t = 0 is plain SH (Duan).

`time_range` = (t_start, t_end) in seconds is the span the model was trained on; `duration` = t_end - t_start
is the period T of the temporal basis and the viewer's scrubber length.
"""

import dataclasses
import math

import torch

from ngfx.splatting.model import _GaussiansBase, sh_degree_of

__all__ = ["ROTATIONS_4D", "Gaussians4D", "normalize_rotor"]

ROTATIONS_4D = ("dualquat", "rotor")


@dataclasses.dataclass(eq=False)
class Gaussians4D(_GaussiansBase):
    """N dynamic Gaussians in XYZT; see the module docstring for the fields and their activations."""

    means4: torch.Tensor  # [N, 4] x, y, z, t
    log_scales: torch.Tensor  # [N, 4]
    rotations: torch.Tensor  # [N, 8] raw dualquat or rotor, as `rotation` says
    opacity_logits: torch.Tensor  # [N]
    sh_dc: torch.Tensor  # [N, 1, 3]
    sh_rest: torch.Tensor  # [N, (sh_degree_t + 1)(sh_degree + 1)^2 - 1, 3], time-major
    rotation: str = "dualquat"
    sh_degree_t: int = 0
    time_range: tuple[float, float] = (0.0, 1.0)
    render_mode: str = "classic"

    PARAMETER_NAMES = ("means4", "log_scales", "rotations", "opacity_logits", "sh_dc", "sh_rest")

    def __post_init__(self):
        self._check_common(4, 8, "rotations")
        if self.rotation not in ROTATIONS_4D:
            raise ValueError(f"rotation must be one of {ROTATIONS_4D}, got {self.rotation!r}")
        if isinstance(self.sh_degree_t, bool) or not isinstance(self.sh_degree_t, int) or self.sh_degree_t < 0:
            raise ValueError(f"sh_degree_t must be an int >= 0, got {self.sh_degree_t!r}")
        start, end = (float(v) for v in self.time_range)
        if not (math.isfinite(start) and math.isfinite(end) and end > start):
            raise ValueError(f"time_range must be finite (t_start, t_end) with t_end > t_start, "
                             f"got {self.time_range}")
        self.time_range = (start, end)
        _ = self.sh_degree  # raises for an sh_rest that fits no degree

    @property
    def sh_degree(self) -> int:
        """Spatial SH degree D in 0..3 of every temporal block."""
        total, blocks = 1 + self.sh_rest.shape[1], self.sh_degree_t + 1
        if total % blocks:
            raise ValueError(f"{total} SH coefficients per channel do not split into sh_degree_t + 1 = "
                             f"{blocks} equal temporal blocks")
        return sh_degree_of(total // blocks)

    @property
    def means(self) -> torch.Tensor:
        """The x, y, z part of means4 (a view)."""
        return self.means4[:, :3]

    @property
    def times(self) -> torch.Tensor:
        """The t part of means4 (a view), seconds."""
        return self.means4[:, 3]

    @property
    def duration(self) -> float:
        """t_end - t_start: the period T of the temporal SH basis, seconds."""
        return self.time_range[1] - self.time_range[0]

    @property
    def unit_rotations(self) -> torch.Tensor:
        """Normalized rotations: each quaternion of a dualquat unit; a rotor by `normalize_rotor`."""
        if self.rotation == "rotor":
            return normalize_rotor(self.rotations)
        q_l, q_r = self.rotations[:, :4], self.rotations[:, 4:]
        return torch.cat([q_l / q_l.norm(dim=-1, keepdim=True), q_r / q_r.norm(dim=-1, keepdim=True)], dim=-1)

    def bounds(self, low_percent: float = 0.5, high_percent: float = 99.5):
        """Robust axis-aligned (min, max) of the x, y, z means over all times: per-axis percentiles as float64
        numpy arrays [3], or None when no mean is finite (slicing moves means, so this is approximate)."""
        return self._bounds_of(self.means, low_percent, high_percent)


def normalize_rotor(rotors: torch.Tensor) -> torch.Tensor:
    """Unit rotors [N, 8] whose matrix is a rotation (REFERENCE 3.2, always removing the grade-4 part).

    Order (s, b_xy, b_xz, b_yz, b_xw, b_yw, b_zw, p); differentiable, elementwise in N.
    """
    s, b_xy, b_xz, b_yz, b_xw, b_yw, b_zw, p = rotors.unbind(-1)
    eps = p * s - b_xy * b_zw + b_xz * b_yw - b_xw * b_yz
    length = (rotors * rotors).sum(-1)
    fix = eps.abs() > 1e-7
    safe_eps = torch.where(fix, eps, torch.ones_like(eps))  # the unused branch must not divide by zero
    root = torch.sqrt(torch.clamp(length * length - 4 * safe_eps * safe_eps, min=0.0))
    delta = torch.where(fix, (root - length) / (2 * safe_eps), torch.zeros_like(eps))
    # simultaneous update from the pre-update values
    r = torch.stack([s + delta * p, b_xy - delta * b_zw, b_xz + delta * b_yw, b_yz - delta * b_xw,
                     b_xw - delta * b_yz, b_yw + delta * b_xz, b_zw - delta * b_xy, p + delta * s], dim=-1)
    return r / (r.norm(dim=-1, keepdim=True) + 1e-7)
