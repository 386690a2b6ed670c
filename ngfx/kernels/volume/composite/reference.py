"""Pure-torch volume compositing of packed ray samples: the reference of `op.composite_along_rays`.

Emission-absorption quadrature (Max 1995; NeRF, Mildenhall et al. 2020; REFERENCE 4.5), per ray over its
samples i in order:
    delta_i = t_end_i - t_start_i,   alpha_i = 1 - exp(-sigma_i delta_i),
    T_i = prod_{j<i} (1 - alpha_j) = exp(-sum_{j<i} sigma_j delta_j),   w_i = T_i alpha_i,
    color = sum_i w_i c_i + (1 - sum_i w_i) bg,   opacity = sum_i w_i,
    depth = sum_i w_i (t_start_i + t_end_i) / 2   (expected ray distance, not divided by opacity).
With stop_transmittance > 0, a sample whose incoming T_i is below it gets w_i = 0 (instant-ngp's early
stop; the mask carries no gradient). Differentiable by autograd in sigmas, rgbs and background.
"""

import torch

from ngfx.kernels.volume.composite.op import CompositeOutput

__all__ = ["composite_along_rays", "ray_ids_from_offsets"]


def ray_ids_from_offsets(ray_offsets: torch.Tensor, n_samples: int) -> torch.Tensor:
    """The ray of each packed sample, int64 [S], from offsets int32 [R + 1]."""
    counts = (ray_offsets[1:] - ray_offsets[:-1]).long()
    rays = torch.arange(counts.shape[0], device=ray_offsets.device)
    return torch.repeat_interleave(rays, counts, output_size=n_samples)


def _exclusive_segment_cumsum(x: torch.Tensor, ray_ids: torch.Tensor,
                              ray_offsets: torch.Tensor) -> torch.Tensor:
    """sum_{j<i, same ray} x_j per sample, summed in a dense [R, 1 + max samples] layout shifted by one
    column, so that no sum absorbs the rounding of other rays or of x_i itself (a global cumsum minus the
    ray's start, or an inclusive sum minus x_i, would: catastrophically next to a saturated sample)."""
    n_rays = ray_offsets.shape[0] - 1
    local = torch.arange(x.shape[0], device=x.device) - ray_offsets.long()[ray_ids]
    width = int((ray_offsets[1:] - ray_offsets[:-1]).max()) if n_rays else 0
    dense = x.new_zeros((n_rays, width + 1)).index_put((ray_ids, local + 1), x)
    return torch.cumsum(dense, dim=1)[ray_ids, local]


def composite_along_rays(sigmas: torch.Tensor, rgbs: torch.Tensor, t_starts: torch.Tensor,
                         t_ends: torch.Tensor, ray_offsets: torch.Tensor, *,
                         background: torch.Tensor | None = None,
                         stop_transmittance: float = 0.0) -> CompositeOutput:
    """Module docstring; the same contract as `op.composite_along_rays`."""
    n_rays, n_samples, n_channels = ray_offsets.shape[0] - 1, sigmas.shape[0], rgbs.shape[1]
    ray_ids = ray_ids_from_offsets(ray_offsets, n_samples)
    tau = sigmas * (t_ends - t_starts)  # optical thickness of each sample
    T = torch.exp(-_exclusive_segment_cumsum(tau, ray_ids, ray_offsets))
    weights = T * (1.0 - torch.exp(-tau))
    if stop_transmittance > 0.0:
        weights = weights * (T.detach() >= stop_transmittance).to(weights.dtype)
    color = rgbs.new_zeros((n_rays, n_channels)).index_add(0, ray_ids, weights[:, None] * rgbs)
    opacity = weights.new_zeros(n_rays).index_add(0, ray_ids, weights)
    depth = weights.new_zeros(n_rays).index_add(0, ray_ids, weights * 0.5 * (t_starts + t_ends))
    if background is not None:
        color = color + (1.0 - opacity)[:, None] * background
    return CompositeOutput(color=color, opacity=opacity, depth=depth, weights=weights)
