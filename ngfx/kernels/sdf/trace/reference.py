"""Pure-torch sphere tracing of a neural SDF: the twin of op.sphere_trace, same signature, used by the tests.

The SDF is output 0 of the neural field MLP(hash-grid encoding(x_n)) with x_n = (x - aabb_min) /
(aabb_max - aabb_min) in [0, 1]^3 (networks/field/reference.py), read as a distance in WORLD units: the
field is trained on world-space distances, so a step of f(x) along the unit direction cannot cross the
surface when f is 1-Lipschitz in world units. Per ray x(t) = o + t d:
  1. clip to the box (slab test; an axis with d_k = 0 clips nothing, or misses when o_k is outside) and to
     [near, far]: t in [t_start, t_end], a miss with no evaluation when t_start > t_end;
  2. march while steps < max_steps and t <= t_end: evaluate f(x(t)), count a step; f < epsilon is a hit at
     t (negative values too: a ray that starts inside or overshoots stops where it finds itself inside);
     else t += step_scale f / |d| (the world distance f along d of any length);
  3. at a hit, normal = normalise((f(x + h e_k) - f(x - h e_k)) / 2h), h = normal_step (world units),
     zero when that difference vanishes. Near the box faces the encoding clamps x_n, so a difference that
     straddles a face sees a flat field there.
Rays march in lockstep here (a batch of the rays still alive per step); the kernel runs a thread per ray.
"""

import torch

from ngfx.kernels.encodings.hashgrid.config import HashGridConfig
from ngfx.kernels.networks.field.reference import infer_field
from ngfx.kernels.networks.mlp.config import MLPConfig
from ngfx.kernels.sdf.trace.outputs import TraceOutput

__all__ = ["box_interval", "sdf_world", "sphere_trace"]


def sdf_world(x, table, grid_cfg: HashGridConfig, params, mlp_cfg: MLPConfig, lo, hi) -> torch.Tensor:
    """Output 0 of the field at world points x [N, 3] (box-normalised as the module docstring says)."""
    return infer_field((x - lo) / (hi - lo), table, grid_cfg, params, mlp_cfg)[:, 0]


def box_interval(origins, directions, lo, hi) -> tuple[torch.Tensor, torch.Tensor]:
    """(t_enter, t_exit) [R] of each ray's slab intersection with the box (t_enter > t_exit: a miss)."""
    big = 1e30  # finite stand-ins for infinity, as the kernel (fast math assumes no inf)
    t0 = torch.full_like(origins[:, 0], -big)
    t1 = torch.full_like(origins[:, 0], big)
    for k in range(3):
        o, d = origins[:, k], directions[:, k]
        moving = d != 0
        safe = torch.where(moving, d, torch.ones_like(d))
        ta, tb = (lo[k] - o) / safe, (hi[k] - o) / safe
        t0 = torch.where(moving, torch.maximum(t0, torch.minimum(ta, tb)), t0)
        t1 = torch.where(moving, torch.minimum(t1, torch.maximum(ta, tb)), t1)
        outside = ~moving & ((o < lo[k]) | (o > hi[k]))
        t0 = torch.where(outside, torch.full_like(t0, big), t0)
    return t0, t1


def _normals(x, field, step: float) -> torch.Tensor:
    """Unit central-difference gradients of `field` at x [N, 3] (zero where the difference vanishes)."""
    grad = torch.zeros_like(x)
    for k in range(3):
        e = torch.zeros_like(x)
        e[:, k] = step
        grad[:, k] = (field(x + e) - field(x - e)) / (2 * step)
    length = (grad * grad).sum(-1, keepdim=True).sqrt()
    return torch.where(length > 0, grad / torch.where(length > 0, length, 1), torch.zeros_like(grad))


@torch.no_grad()
def sphere_trace(origins, directions, table, grid_cfg: HashGridConfig, params, mlp_cfg: MLPConfig, *,
                 aabb_min, aabb_max, near: float, far: float, max_steps: int = 64, epsilon: float = 1e-3,
                 step_scale: float = 1.0, normal_step: float = 1e-3) -> TraceOutput:
    """Sphere-trace rays origins/directions [R, 3] (world) against the field's SDF (module docstring)."""
    dtype = torch.float64 if table.dtype == params.dtype == torch.float64 else torch.float32
    o, d = origins.to(dtype), directions.to(dtype)
    lo, hi = (torch.as_tensor(v, dtype=dtype, device=o.device).reshape(3) for v in (aabb_min, aabb_max))

    def field(x):
        return sdf_world(x, table, grid_cfg, params, mlp_cfg, lo, hi).to(dtype)

    t0, t1 = box_interval(o, d, lo, hi)
    t, t_end = torch.clamp(t0, min=near), torch.clamp(t1, max=far)
    inv_len = 1.0 / (d * d).sum(-1).sqrt()
    steps = torch.zeros(o.shape[0], dtype=torch.int32, device=o.device)
    hit = torch.zeros(o.shape[0], dtype=torch.bool, device=o.device)
    alive = torch.ones_like(hit)
    for _ in range(max_steps):
        alive &= t <= t_end
        rays = alive.nonzero()[:, 0]
        if rays.numel() == 0:
            break
        f = field(o[rays] + t[rays, None] * d[rays])
        steps[rays] += 1
        inside = f < epsilon
        hit[rays[inside]] = True
        alive[rays[inside]] = False
        t[rays[~inside]] += step_scale * f[~inside] * inv_len[rays[~inside]]
    normals = torch.zeros_like(o)
    rays = hit.nonzero()[:, 0]
    if rays.numel():
        normals[rays] = _normals(o[rays] + t[rays, None] * d[rays], field, normal_step)
    t = torch.where(hit, t, torch.full_like(t, float("inf")))
    return TraceOutput(t=t, hit=hit, normals=normals, steps=steps)
