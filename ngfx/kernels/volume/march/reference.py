"""Pure-torch ray marching through an occupancy grid: the reference of `op.march_rays` (same signature, same
samples up to float rounding), written as the definition rather than as the fast algorithm.

Per ray (o, d), d of unit length so that t is world distance (instant-ngp, REFERENCE 4.4):
1. Clip [near, far] to the outer cube (cascade C-1, config.py): t_lo = max(near, t_in), t_hi = min(far,
   t_out) by the slab test; an axis with d_a = 0 misses when o_a is outside its slab and else bounds
   nothing (so d = 0 misses). No samples when the ray misses or t_lo >= t_hi; a ray starting inside
   begins at near.
2. The step lattice: t_0 = t_lo, dt_j = clamp(t_j cone_angle, step_size, max_step), t_{j+1} = t_j + dt_j
   (cone_angle = 0: uniform steps of step_size; else instant-ngp's cone stepping, dt = t / 256 for its
   cone_angle 1/256). Sample j is [t_j, t_{j+1}] with midpoint m_j = t_j + dt_j / 2. The lattice stops
   before the first j with m_j >= t_hi, and after the first j with t_{j+1} <= t_j (float resolution
   exhausted at that t: a guard against endless loops, never met with sane scales).
3. Sample j is kept when the cell of o + d m_j (`point_cells`: in the finest cascade containing it) is
   occupied in the bitfield; a ray returns its first max_samples_per_ray kept samples.
The kernel (kernels.py) returns the same samples without looking up every lattice point: in an empty cell
it walks the lattice without lookups to the first point whose midpoint lies past the cell's exit. The
points it passes have their midpoints inside that empty cell, so skipping drops exactly what step 3
drops, and the samples it keeps are bit-identical to those of an all-occupied grid.
Early termination (transmittance < 1e-4, REFERENCE 4.4) needs densities, so marching does not do it:
compositing does (`composite_along_rays(..., stop_transmittance=1e-4)`), and a caller may re-march.
Memory here is O(R x lattice length); the kernel needs none beyond its outputs.
"""

import torch

from ngfx.kernels.volume.march.outputs import MarchOutput
from ngfx.kernels.volume.occupancy.cells import point_cells, unpack_bitfield
from ngfx.kernels.volume.occupancy.config import OccupancyGridConfig

__all__ = ["clip_to_grid", "march_rays", "ray_bounds", "step_sizes"]


def step_sizes(cfg: OccupancyGridConfig, step_size: float | None) -> tuple[float, float]:
    """(step, max_step): step_size or cfg.min_step, and the cone cap max(cfg.max_step, step)."""
    step = cfg.min_step if step_size is None else float(step_size)
    return step, max(cfg.max_step, step)


def ray_bounds(near, far, n_rays: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """near and far (floats or [R] tensors) as [R] tensors of like's dtype and device."""
    def one(x):
        x = torch.as_tensor(x, dtype=like.dtype, device=like.device)
        return x.expand(n_rays).contiguous() if x.ndim == 0 else x.to(like.dtype).contiguous()

    return one(near), one(far)


def clip_to_grid(origins, directions, near, far, cfg: OccupancyGridConfig):
    """(t_lo [R], t_hi [R], valid [R] bool): [near, far] clipped to the outer cube (step 1)."""
    dtype, dev = origins.dtype, origins.device
    h = cfg.cascade_half_size(cfg.n_cascades - 1)
    lo = torch.tensor([c - h for c in cfg.center], dtype=dtype, device=dev)
    hi = torch.tensor([c + h for c in cfg.center], dtype=dtype, device=dev)
    flat = directions == 0
    safe = torch.where(flat, torch.ones_like(directions), directions)
    ta, tb = (lo - origins) / safe, (hi - origins) / safe
    t_in = torch.where(flat, float("-inf"), torch.minimum(ta, tb)).amax(-1)
    t_out = torch.where(flat, float("inf"), torch.maximum(ta, tb)).amin(-1)
    hit = (~flat | ((origins >= lo) & (origins <= hi))).all(-1) & (~flat).any(-1)  # d = 0 never hits
    t_lo, t_hi = torch.maximum(near, t_in), torch.minimum(far, t_out)
    return t_lo, t_hi, hit & (t_lo < t_hi)


def _lattice(t_lo, t_hi, valid, step: float, max_step: float, cone_angle: float):
    """The step lattice of every ray (step 2): t, dt and alive [J, R]."""
    scalar = lambda v: torch.tensor(v, dtype=t_lo.dtype, device=t_lo.device)
    cone, lo, hi = scalar(cone_angle), scalar(step), scalar(max_step)
    t, alive = t_lo.clone(), valid.clone()
    ts, dts, alives = [], [], []
    while bool(alive.any()):
        dt = torch.minimum(torch.maximum(t * cone, lo), hi)
        alive = alive & (t + 0.5 * dt < t_hi)
        ts.append(t), dts.append(dt), alives.append(alive)
        t_next = t + dt
        alive = alive & (t_next > t)
        t = torch.where(alive, t_next, t)
    if not ts:
        empty = t_lo.new_zeros((0, t_lo.shape[0]))
        return empty, empty, empty.bool()
    return torch.stack(ts), torch.stack(dts), torch.stack(alives)


def march_rays(origins: torch.Tensor, directions: torch.Tensor, near, far, bitfield: torch.Tensor,
               cfg: OccupancyGridConfig, *, step_size: float | None = None, cone_angle: float = 0.0,
               max_samples_per_ray: int = 1024) -> MarchOutput:
    """Samples along rays origins / directions [R, 3] (world; unit directions) in [near, far] (floats or
    [R]) through the occupied cells of bitfield uint8 [C, res^3 / 8] (module docstring for the rules)."""
    n_rays = origins.shape[0]
    step, max_step = step_sizes(cfg, step_size)
    near, far = ray_bounds(near, far, n_rays, origins)
    t_lo, t_hi, valid = clip_to_grid(origins, directions, near, far, cfg)
    t, dt, alive = _lattice(t_lo, t_hi, valid, step, max_step, cone_angle)
    mid = t + 0.5 * dt
    points = origins[None] + directions[None] * mid[..., None]  # [J, R, 3]
    occupied = unpack_bitfield(bitfield, cfg).view(-1)[point_cells(cfg, points.reshape(-1, 3))]
    keep = (alive & occupied.view(alive.shape)).T  # [R, J]: ray-major, as the output is packed
    keep = keep & (torch.cumsum(keep.int(), dim=1) <= max_samples_per_ray)
    counts = keep.sum(1)
    ray_offsets = torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)]).to(torch.int32)
    ray_ids = torch.arange(n_rays, device=origins.device)[:, None].expand(keep.shape)
    return MarchOutput(ray_offsets=ray_offsets, ray_indices=ray_ids[keep], t_starts=t.T[keep],
                       t_ends=(t + dt).T[keep], positions=points.transpose(0, 1)[keep])
