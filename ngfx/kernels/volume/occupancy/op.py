"""Public `update_occupancy` and `pack_bitfield`: instant-ngp's occupancy-grid maintenance (REFERENCE 4.4)
in one Taichi launch each (kernels.py), equal bit for bit to the torch reference (reference.py, which
states the rules). Nothing here is differentiable; the grid is state the caller owns and passes in.
"""

import torch

from ngfx.kernels import runtime
from ngfx.kernels.volume.occupancy.config import OccupancyGridConfig
from ngfx.kernels.volume.occupancy.kernels import make_occupancy_kernels
from ngfx.kernels.volume.occupancy.reference import occupancy_threshold

__all__ = ["pack_bitfield", "update_occupancy"]


def _check_grid(density_grid: torch.Tensor, cfg: OccupancyGridConfig):
    if not isinstance(cfg, OccupancyGridConfig):
        raise TypeError(f"cfg must be an OccupancyGridConfig, got {type(cfg).__name__}")
    if tuple(density_grid.shape) != (cfg.n_cascades, cfg.n_cells) or density_grid.dtype != torch.float32:
        raise ValueError(f"density_grid must be float32 [{cfg.n_cascades}, {cfg.n_cells}] (n_cascades, res^3), "
                         f"got {density_grid.dtype} {tuple(density_grid.shape)}")
    if not density_grid.is_contiguous():
        raise ValueError("density_grid must be contiguous (it is updated in place)")


def update_occupancy(density_grid: torch.Tensor, cell_indices: torch.Tensor, new_densities: torch.Tensor,
                     cfg: OccupancyGridConfig) -> torch.Tensor:
    """One grid update, in place: every cell with value >= 0 becomes decay * value, then each sampled cell
    becomes max(decay * old, its largest new sample); cells < 0 stay as they are (excluded). Returns
    density_grid.

    density_grid: float32 [C, res^3] (config.py layout), contiguous, on runtime.device(). cell_indices:
    int64 [N] flat indices (cascade * res^3 + x + res (y + res z); repeats allowed), e.g. from
    `cells_to_update`. new_densities: [N] what the caller's field gave at `sample_in_cells` points, in the
    units the threshold expects (optical thickness sigma * step_size for the default 0.01). One host read
    (the index range check) per call."""
    runtime.ensure_init()
    _check_grid(density_grid, cfg)
    if cell_indices.ndim != 1 or cell_indices.dtype != torch.int64:
        raise ValueError(f"cell_indices must be int64 [N], got {cell_indices.dtype} {tuple(cell_indices.shape)}")
    if new_densities.shape != cell_indices.shape:
        raise ValueError(f"new_densities must be [N] = {tuple(cell_indices.shape)}, got {tuple(new_densities.shape)}")
    total = density_grid.numel()
    # one sync: an index out of range would write outside the grid inside the kernel
    if cell_indices.numel() and bool(((cell_indices < 0) | (cell_indices >= total)).any()):
        raise ValueError(f"cell_indices must lie in [0, {total}) (n_cascades * res^3)")
    values = new_densities.detach().to(torch.float32).contiguous()
    k = make_occupancy_kernels(runtime.generation())
    if cell_indices.numel():
        k.update(density_grid.view(-1), cell_indices.contiguous(), values, float(cfg.decay))
    else:  # Taichi takes no zero-sized arrays: a [1] dummy sample into cell 0 that cannot win the max
        k.update(density_grid.view(-1), cell_indices.new_zeros(1), values.new_full((1,), float("-inf")),
                 float(cfg.decay))
    return density_grid


def pack_bitfield(density_grid: torch.Tensor, cfg: OccupancyGridConfig) -> torch.Tensor:
    """The occupancy bitfield uint8 [C, res^3 / 8] of density_grid float32 [C, res^3]: bit j of byte b of
    cascade k is set when cell 8 b + j of cascade k has value > min(mean, cfg.threshold), the mean being
    that of max(value, 0) over cascade 0's res^3 cells (instant-ngp; reference.py). No host read."""
    runtime.ensure_init()
    _check_grid(density_grid, cfg)
    bits = torch.empty((cfg.n_cascades, cfg.n_cells // 8), dtype=torch.uint8, device=density_grid.device)
    threshold = occupancy_threshold(density_grid, cfg).to(torch.float32).contiguous()
    make_occupancy_kernels(runtime.generation()).pack(density_grid.view(-1), threshold, bits.view(-1))
    return bits
