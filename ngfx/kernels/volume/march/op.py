"""Public `march_rays`: instant-ngp's ray marcher over an occupancy grid (REFERENCE 4.4) in two launches
of one Taichi kernel (count, then fill after a torch cumsum; kernels.py), giving the samples that the
torch reference (reference.py, which defines them) gives. Not differentiable.
"""

import torch

from ngfx.kernels import runtime
from ngfx.kernels.volume.march.kernels import make_march_kernels
from ngfx.kernels.volume.march.outputs import MarchOutput
from ngfx.kernels.volume.march.reference import ray_bounds, step_sizes
from ngfx.kernels.volume.occupancy.config import OccupancyGridConfig

__all__ = ["march_rays"]

_NAMES = {torch.float32: "f32", torch.float64: "f64"}


def _check(origins, directions, near, far, bitfield, cfg, step, cone_angle, max_samples_per_ray):
    if origins.dtype not in _NAMES or directions.dtype != origins.dtype:
        raise ValueError(f"origins and directions must share float32 or float64, got {origins.dtype}, "
                         f"{directions.dtype}")
    if origins.ndim != 2 or origins.shape[1] != 3 or directions.shape != origins.shape:
        raise ValueError(f"origins and directions must be [R, 3], got {tuple(origins.shape)}, "
                         f"{tuple(directions.shape)}")
    for name, x in (("near", near), ("far", far)):
        if isinstance(x, torch.Tensor) and x.ndim and tuple(x.shape) != (origins.shape[0],):
            raise ValueError(f"{name} must be a float or [R] = [{origins.shape[0]}], got {tuple(x.shape)}")
    if tuple(bitfield.shape) != (cfg.n_cascades, cfg.n_cells // 8) or bitfield.dtype != torch.uint8:
        raise ValueError(f"bitfield must be uint8 [{cfg.n_cascades}, {cfg.n_cells // 8}] (pack_bitfield), got "
                         f"{bitfield.dtype} {tuple(bitfield.shape)}")
    if not step > 0 or not cone_angle >= 0:
        raise ValueError(f"step_size must be > 0 and cone_angle >= 0, got {step}, {cone_angle}")
    if not 1 <= max_samples_per_ray < 2**31:
        raise ValueError(f"max_samples_per_ray must be >= 1, got {max_samples_per_ray}")


def march_rays(origins: torch.Tensor, directions: torch.Tensor, near, far, bitfield: torch.Tensor,
               cfg: OccupancyGridConfig, *, step_size: float | None = None, cone_angle: float = 0.0,
               max_samples_per_ray: int = 1024) -> MarchOutput:
    """Sample intervals along rays through the occupied cells of an occupancy grid (reference.py).

    origins / directions: [R, 3] world, float32 or float64, directions of unit length (t is then world
    distance; the steps are in units of |d| otherwise). near / far: floats or [R] (far may be inf: the ray
    stops at the outer cube), clipped to the cube of cascade C-1. bitfield: uint8 [C, res^3 / 8] from
    `pack_bitfield`. step_size: the base step dt_min, default cfg.min_step = sqrt(3) / 1024 of cascade 0's
    edge (instant-ngp's step in its unit cube); cone_angle > 0 grows steps as clamp(t cone_angle, dt_min,
    dt_max) with dt_max = max(cfg.max_step, dt_min) (instant-ngp: 1/256 for large scenes); a ray keeps its
    first max_samples_per_ray samples. Empty cells are skipped exactly (the finest cascade's cell, not
    instant-ngp's coarser jumps). No early stop by transmittance: that needs densities and is
    `composite_along_rays(stop_transmittance=...)`'s job. Tensors on runtime.device(); one host read (S).
    """
    runtime.ensure_init()
    if not isinstance(cfg, OccupancyGridConfig):
        raise TypeError(f"cfg must be an OccupancyGridConfig, got {type(cfg).__name__}")
    step, max_step = step_sizes(cfg, step_size)
    _check(origins, directions, near, far, bitfield, cfg, step, cone_angle, max_samples_per_ray)
    n_rays, dev, dtype = origins.shape[0], origins.device, origins.dtype
    ray_offsets = torch.zeros(n_rays + 1, dtype=torch.int32, device=dev)
    if not n_rays:  # Taichi gets no zero-sized arrays
        empty = origins.new_zeros(0)
        return MarchOutput(ray_offsets, torch.zeros(0, dtype=torch.int64, device=dev), empty, empty,
                           origins.new_zeros((0, 3)))
    near, far = ray_bounds(near, far, n_rays, origins)
    march = make_march_kernels(cfg.resolution, cfg.n_cascades, cfg.center, cfg.half_size, _NAMES[dtype],
                               runtime.generation())
    rays = (origins.detach().contiguous(), directions.detach().contiguous(), near.detach(), far.detach(),
            bitfield.contiguous().view(-1), step, max_step, float(cone_angle), int(max_samples_per_ray))
    dummy_i, dummy_f = torch.zeros(1, dtype=torch.int64, device=dev), origins.new_zeros(1)
    march(*rays, 0, ray_offsets, dummy_i, dummy_f, dummy_f, origins.new_zeros((1, 3)))
    ends = torch.cumsum(ray_offsets, 0, dtype=torch.int64)
    total = int(ends[-1])  # the one host read: the size of the outputs
    if total >= 2**31:
        raise ValueError(f"{total} samples overflow int32 offsets; march fewer rays or cap max_samples_per_ray")
    ray_offsets = ends.to(torch.int32)
    if not total:
        empty = origins.new_zeros(0)
        return MarchOutput(ray_offsets, torch.zeros(0, dtype=torch.int64, device=dev), empty, empty,
                           origins.new_zeros((0, 3)))
    ray_indices = torch.empty(total, dtype=torch.int64, device=dev)
    t_starts, t_ends = origins.new_empty(total), origins.new_empty(total)
    positions = origins.new_empty((total, 3))
    march(*rays, 1, ray_offsets, ray_indices, t_starts, t_ends, positions)
    return MarchOutput(ray_offsets=ray_offsets, ray_indices=ray_indices, t_starts=t_starts, t_ends=t_ends,
                       positions=positions)
