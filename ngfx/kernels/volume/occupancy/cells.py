"""Torch helpers around the occupancy grid (config.py has the layout): which cells an update samples
(instant-ngp's plan, REFERENCE 4.4), points inside those cells for the caller's density callback, the cell
of a point, and the bitfield unpacked to booleans.

The grid never evaluates a field: the caller samples points here, evaluates its density there (nerfacc
style: the field is a callback in torch) and hands the values to `update_occupancy`. A training loop:

    if step % cfg.update_every == 0:
        cells = cells_to_update(cfg, bitfield, step, generator)
        sigma = field_density(sample_in_cells(cfg, cells, generator))
        update_occupancy(density_grid, cells, sigma * step_size, cfg)   # optical thickness per step
        bitfield = pack_bitfield(density_grid, cfg)
"""

import torch

from ngfx.kernels.volume.occupancy.config import OccupancyGridConfig

__all__ = ["cell_centers", "cells_to_update", "point_cells", "sample_in_cells", "unpack_bitfield"]


def unpack_bitfield(bitfield: torch.Tensor, cfg: OccupancyGridConfig) -> torch.Tensor:
    """The bitfield uint8 [C, res^3 / 8] as bool [C, res^3] (bit j of byte b is cell 8 b + j)."""
    assert bitfield.shape == (cfg.n_cascades, cfg.n_cells // 8) and bitfield.dtype == torch.uint8, \
        (bitfield.shape, bitfield.dtype)
    shifts = torch.arange(8, device=bitfield.device, dtype=torch.uint8)
    bits = (bitfield[..., None] >> shifts) & 1
    return bits.reshape(cfg.n_cascades, cfg.n_cells).bool()


def _cell_frame(cfg: OccupancyGridConfig, cell_indices: torch.Tensor, dtype: torch.dtype):
    """Per flat cell index: its integer (x, y, z) as floats [N, 3], its cascade's lo corner [N, 3] and
    its cell edge [N, 1]."""
    res = cfg.resolution
    assert cell_indices.dtype == torch.int64 and cell_indices.ndim == 1, (cell_indices.dtype, cell_indices.shape)
    cascade, linear = cell_indices // cfg.n_cells, cell_indices % cfg.n_cells
    xyz = torch.stack([linear % res, (linear // res) % res, linear // (res * res)], dim=-1).to(dtype)
    dev = cell_indices.device
    halves = torch.tensor([cfg.cascade_half_size(k) for k in range(cfg.n_cascades)], dtype=dtype, device=dev)
    center = torch.tensor(cfg.center, dtype=dtype, device=dev)
    h = halves[cascade][:, None]
    return xyz, center - h, 2.0 * h / res


def cell_centers(cfg: OccupancyGridConfig, cell_indices: torch.Tensor, *,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """World-space centres [N, 3] of the cells with flat indices cell_indices int64 [N] (any cascades)."""
    xyz, lo, edge = _cell_frame(cfg, cell_indices, dtype)
    return lo + (xyz + 0.5) * edge


def sample_in_cells(cfg: OccupancyGridConfig, cell_indices: torch.Tensor, generator: torch.Generator, *,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One point [N, 3] (world) per flat cell index, uniform in its cell (jitter U[0, 1)^3 drawn from
    `generator` on its device, then moved to the indices' device): where the caller evaluates density."""
    xyz, lo, edge = _cell_frame(cfg, cell_indices, dtype)
    jitter = torch.rand(xyz.shape, generator=generator, dtype=dtype, device=generator.device)
    return lo + (xyz + jitter.to(xyz.device)) * edge


def point_cells(cfg: OccupancyGridConfig, points: torch.Tensor) -> torch.Tensor:
    """Flat cell index int64 [N] of each world point [N, 3] in the finest cascade containing it (config.py;
    points outside every cascade go to the nearest cell of the last one). Computed as the marcher does:
    u = (p - lo_k) * (res / (2 half_size 2^k)), cell = clamp(floor(u), 0, res - 1), constants rounded to
    the points' dtype, so a point maps to the same cell in the kernels and in this reference."""
    res, n = cfg.resolution, cfg.n_cascades
    dev, dtype = points.device, points.dtype
    center = torch.tensor(cfg.center, dtype=dtype, device=dev)
    m = (points - center).abs().amax(dim=-1)
    # the finest containing cascade: how many of cascades 0..C-2 do NOT contain the point
    level = torch.zeros(points.shape[0], dtype=torch.int64, device=dev)
    for k in range(n - 1):
        level += (m >= torch.tensor(cfg.cascade_half_size(k), dtype=dtype, device=dev)).long()
    lows = torch.tensor([[c - cfg.cascade_half_size(k) for c in cfg.center] for k in range(n)], dtype=dtype,
                        device=dev)
    inv = torch.tensor([res / (2.0 * cfg.cascade_half_size(k)) for k in range(n)], dtype=dtype, device=dev)
    u = (points - lows[level]) * inv[level][:, None]
    xyz = torch.floor(u).clamp(0, res - 1).long()
    return level * cfg.n_cells + xyz[:, 0] + res * (xyz[:, 1] + res * xyz[:, 2])


def cells_to_update(cfg: OccupancyGridConfig, bitfield: torch.Tensor, step: int,
                    generator: torch.Generator) -> torch.Tensor:
    """Flat indices int64 of the cells one update samples at training step `step` (REFERENCE 4.4).

    step < cfg.warmup_steps: every cell of every cascade, in order. After that, per cascade, n = res^3 / 4
    cells drawn uniformly (with replacement) plus n drawn uniformly with replacement among the cascade's
    occupied cells in `bitfield` (all of them, once each, when fewer than n are occupied; none when none
    is). Indices may repeat; `update_occupancy` keeps the largest sample of a cell. Random draws come from
    `generator` (on its device); the result lives on the bitfield's device."""
    dev = bitfield.device
    total = cfg.n_cascades * cfg.n_cells
    if step < cfg.warmup_steps:
        return torch.arange(total, dtype=torch.int64, device=dev)
    n, gdev = cfg.n_cells // 4, generator.device
    occupied = unpack_bitfield(bitfield, cfg)
    picked = []
    for k in range(cfg.n_cascades):
        base = k * cfg.n_cells
        picked.append(base + torch.randint(cfg.n_cells, (n,), generator=generator, device=gdev).to(dev))
        ids = torch.nonzero(occupied[k]).flatten()
        if ids.numel() > n:
            ids = ids[torch.randint(ids.numel(), (n,), generator=generator, device=gdev).to(dev)]
        picked.append(base + ids)
    return torch.cat(picked)
