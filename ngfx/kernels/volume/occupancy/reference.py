"""Pure-torch occupancy-grid update and bitfield packing: the reference of `op.update_occupancy` and
`op.pack_bitfield`, same signatures, same results bit for bit (instant-ngp's rules, REFERENCE 4.4).

Update, per cell c of every cascade, with S_c the samples whose flat index is c:
  old < 0 (excluded):  new = old                        (never changed, never occupied)
  otherwise:           new = max(decay * old, max S_c)  (new = decay * old when S_c is empty)
The decay applies to every live cell at every update, sampled or not, as instant-ngp's EMA pass does.
Pack: occupied = value > min(mean, cfg.threshold), the mean being that of max(value, 0) over the res^3
cells of cascade 0 (instant-ngp's choice; excluded cells count as 0; nerfacc instead averages the
non-negative cells of every cascade), one threshold for all cascades.
"""

import torch

from ngfx.kernels.volume.occupancy.cells import unpack_bitfield
from ngfx.kernels.volume.occupancy.config import OccupancyGridConfig

__all__ = ["occupancy_threshold", "pack_bitfield", "unpack_bitfield", "update_occupancy"]


def update_occupancy(density_grid: torch.Tensor, cell_indices: torch.Tensor, new_densities: torch.Tensor,
                     cfg: OccupancyGridConfig) -> torch.Tensor:
    """Decay every live cell of density_grid float32 [C, res^3] in place, then raise the cells with flat
    indices cell_indices int64 [N] to their largest sample new_densities [N] (module docstring). Returns
    density_grid."""
    flat = density_grid.view(-1)
    live = flat >= 0
    flat.copy_(torch.where(live, flat * torch.tensor(cfg.decay, dtype=flat.dtype), flat))
    # samples into excluded cells become -inf, which an amax with the cell's own value ignores
    values = torch.where(live[cell_indices], new_densities.to(flat.dtype), float("-inf"))
    flat.scatter_reduce_(0, cell_indices, values, reduce="amax", include_self=True)
    return density_grid


def occupancy_threshold(density_grid: torch.Tensor, cfg: OccupancyGridConfig) -> torch.Tensor:
    """min(mean over cascade 0 of max(value, 0), cfg.threshold) as a [1] tensor on the grid's device."""
    mean = density_grid[0].clamp_min(0).mean()
    return torch.clamp(mean, max=cfg.threshold).reshape(1)


def pack_bitfield(density_grid: torch.Tensor, cfg: OccupancyGridConfig) -> torch.Tensor:
    """uint8 [C, res^3 / 8]: bit j of byte b of cascade k set when cell 8 b + j is occupied (module
    docstring for the threshold)."""
    occupied = density_grid > occupancy_threshold(density_grid, cfg)
    weights = (2 ** torch.arange(8, device=density_grid.device)).to(torch.int32)
    packed = (occupied.view(cfg.n_cascades, -1, 8).to(torch.int32) * weights).sum(-1)
    return packed.to(torch.uint8)

