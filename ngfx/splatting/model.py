"""Static 3D Gaussians (Kerbl et al. 2023, "3D Gaussian Splatting"): raw parameters, activations on demand.

The model is data only: tensors of RAW parameters, named apart from their activations (REFERENCE 2.1):

| raw field        | shape       | activation (property)                              |
|------------------|-------------|----------------------------------------------------|
| `means`          | [N, 3]      | -, world units                                     |
| `log_scales`     | [N, 3]      | `scales` = exp                                     |
| `quats`          | [N, 4]      | `unit_quats` = normalized, wxyz order              |
| `opacity_logits` | [N]         | `opacities` = sigmoid                              |
| `sh_dc`          | [N, 1, 3]   | `sh_coeffs` = cat(sh_dc, sh_rest) [N, K, 3]        |
| `sh_rest`        | [N, K-1, 3] | K = (sh_degree + 1)^2, REFERENCE 2.2 basis order   |

`sh_degree` is derived from `sh_rest`'s shape, so it cannot drift from the data. Colour is
max(0, sum_k sh_coeffs_k Y_k(d) + 0.5). `render_mode` says how the model was trained: "classic" (INRIA) or
"antialiased" (opacity times the REFERENCE 2.6 factor); an antialiased model renders wrong the other way.

Shape problems are programming errors and raise ValueError (TypeError for non-tensors); files are checked
by `ngfx.splatting.ply`.
"""

import dataclasses
import math

import numpy as np
import torch

__all__ = ["RENDER_MODES", "Gaussians3D", "sh_degree_of"]

RENDER_MODES = ("classic", "antialiased")


def sh_degree_of(num_bases: int) -> int:
    """The SH degree D in 0..3 with (D + 1)^2 == num_bases; ValueError otherwise."""
    degree = math.isqrt(max(num_bases, 0)) - 1
    if num_bases < 1 or (degree + 1) ** 2 != num_bases or degree > 3:
        raise ValueError(f"{num_bases} SH bases per channel is not (D + 1)^2 for a degree D in 0..3")
    return degree


class _GaussiansBase:
    """Behaviour shared by Gaussians3D and Gaussians4D; subclasses list their tensors in PARAMETER_NAMES."""

    PARAMETER_NAMES: tuple[str, ...] = ()

    def parameter_dict(self) -> dict[str, torch.Tensor]:
        """The raw parameter tensors by field name (the optimizer's parameter groups use these names)."""
        return {name: getattr(self, name) for name in self.PARAMETER_NAMES}

    def requires_grad_(self, requires_grad: bool = True):
        """Set requires_grad on every raw parameter tensor in place; returns self."""
        for tensor in self.parameter_dict().values():
            tensor.requires_grad_(requires_grad)
        return self

    def to(self, device):
        """A copy with every tensor on `device` (the same object's tensors when already there)."""
        return dataclasses.replace(self, **{k: v.to(device) for k, v in self.parameter_dict().items()})

    def detach(self):
        """A copy whose tensors are detached from autograd (sharing storage)."""
        return dataclasses.replace(self, **{k: v.detach() for k, v in self.parameter_dict().items()})

    def select(self, index):
        """The Gaussians picked by a bool mask [N] or an index tensor (new tensors, autograd-connected)."""
        return dataclasses.replace(self, **{k: v[index] for k, v in self.parameter_dict().items()})

    @property
    def num_gaussians(self) -> int:
        return int(self.opacity_logits.shape[0])

    @property
    def device(self) -> torch.device:
        return self.opacity_logits.device

    @property
    def opacities(self) -> torch.Tensor:
        """sigmoid(opacity_logits), in (0, 1)."""
        return torch.sigmoid(self.opacity_logits)

    @property
    def scales(self) -> torch.Tensor:
        """exp(log_scales): standard deviations along the rotated axes, world (and time) units."""
        return torch.exp(self.log_scales)

    @property
    def sh_coeffs(self) -> torch.Tensor:
        """All SH coefficients, cat(sh_dc, sh_rest) along dim 1."""
        return torch.cat([self.sh_dc, self.sh_rest], dim=1)

    def _bounds_of(self, xyz: torch.Tensor, low_percent: float, high_percent: float):
        """Per-axis (low, high) percentiles of the finite rows of xyz, as float64 numpy arrays."""
        xyz = xyz.detach()
        xyz = xyz[torch.isfinite(xyz).all(dim=1)]
        if xyz.shape[0] == 0:
            return None
        # kthvalue (nearest rank) works on any size; torch.quantile refuses inputs above 2^24 elements
        n = xyz.shape[0]
        lo_k = min(n, max(1, round(low_percent / 100 * (n - 1)) + 1))
        hi_k = min(n, max(1, round(high_percent / 100 * (n - 1)) + 1))
        lo = torch.kthvalue(xyz, lo_k, dim=0).values
        hi = torch.kthvalue(xyz, hi_k, dim=0).values
        return lo.cpu().double().numpy(), hi.cpu().double().numpy()

    def _check_common(self, n_mean_dims: int, n_rot: int, rotation_field: str) -> None:
        """Shapes, dtypes, devices and render_mode of the shared fields; ValueError naming the field."""
        for name, tensor in self.parameter_dict().items():
            if not isinstance(tensor, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
        n = self.opacity_logits.shape[0] if self.opacity_logits.ndim == 1 else -1
        rest = self.sh_rest.shape[1] if self.sh_rest.ndim == 3 else -1
        expected = {
            "opacity_logits": (n,), "sh_dc": (n, 1, 3), "sh_rest": (n, rest, 3),
            self.PARAMETER_NAMES[0]: (n, n_mean_dims), "log_scales": (n, n_mean_dims), rotation_field: (n, n_rot),
        }
        for name, tensor in self.parameter_dict().items():
            if tuple(tensor.shape) != expected[name] or n < 0 or rest < 0:
                raise ValueError(f"{name} has shape {tuple(tensor.shape)}, expected {expected[name]} "
                                 f"(N from opacity_logits [N], K - 1 from sh_rest [N, K - 1, 3])")
            if not tensor.is_floating_point():
                raise ValueError(f"{name} must be a floating-point tensor, got {tensor.dtype}")
            if tensor.dtype != self.opacity_logits.dtype or tensor.device != self.opacity_logits.device:
                raise ValueError(f"{name} is {tensor.dtype} on {tensor.device}, but opacity_logits is "
                                 f"{self.opacity_logits.dtype} on {self.opacity_logits.device}")
        if self.render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode must be one of {RENDER_MODES}, got {self.render_mode!r}")


@dataclasses.dataclass(eq=False)
class Gaussians3D(_GaussiansBase):
    """N static Gaussians; see the module docstring for the fields and their activations."""

    means: torch.Tensor  # [N, 3] world units
    log_scales: torch.Tensor  # [N, 3] log standard deviations
    quats: torch.Tensor  # [N, 4] wxyz, not normalized
    opacity_logits: torch.Tensor  # [N]
    sh_dc: torch.Tensor  # [N, 1, 3]
    sh_rest: torch.Tensor  # [N, (sh_degree + 1)^2 - 1, 3]
    render_mode: str = "classic"

    PARAMETER_NAMES = ("means", "log_scales", "quats", "opacity_logits", "sh_dc", "sh_rest")

    def __post_init__(self):
        self._check_common(3, 4, "quats")
        sh_degree_of(1 + self.sh_rest.shape[1])

    @property
    def sh_degree(self) -> int:
        """Spatial SH degree D in 0..3 (K = (D + 1)^2 coefficients per channel)."""
        return sh_degree_of(1 + self.sh_rest.shape[1])

    @property
    def unit_quats(self) -> torch.Tensor:
        """quats / |quats| (wxyz); a zero quaternion gives NaN, as it has no rotation."""
        return self.quats / self.quats.norm(dim=-1, keepdim=True)

    def bounds(self, low_percent: float = 0.5, high_percent: float = 99.5):
        """Robust axis-aligned (min, max) of the means: per-axis percentiles, so stray floaters far away do not
        blow up a camera framing; float64 numpy arrays [3], or None when no mean is finite."""
        return self._bounds_of(self.means, low_percent, high_percent)


def as_numpy_f32(tensor: torch.Tensor) -> np.ndarray:
    """A detached CPU float32 copy (the on-disk precision) of a parameter tensor."""
    return tensor.detach().to("cpu", torch.float32).numpy()
