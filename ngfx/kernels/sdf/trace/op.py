"""Public `sphere_trace`: sphere tracing of a neural SDF (output 0 of MLP(hash-grid encoding)) in one Taichi
launch, a thread per ray (kernels.py), equal to the torch reference (reference.py, which has the method).
Inference only: nothing here is differentiable.
"""

import math

import torch

from ngfx.kernels import runtime
from ngfx.kernels.encodings.hashgrid.config import HashGridConfig
from ngfx.kernels.networks.field.op import check_field_tensors
from ngfx.kernels.networks.mlp.config import MLPConfig
from ngfx.kernels.sdf.trace.kernels import make_trace_kernels
from ngfx.kernels.sdf.trace.outputs import TraceOutput

__all__ = ["sphere_trace"]

_NAMES = {torch.float16: "f16", torch.float32: "f32", torch.float64: "f64"}


def _check_field(table, grid_cfg, params, mlp_cfg):
    check_field_tensors(table, grid_cfg, params, mlp_cfg)
    if grid_cfg.n_dims != 3:
        raise ValueError(f"sphere tracing needs a 3D grid, got n_dims {grid_cfg.n_dims}")


def _check_march(origins, directions, box, near, far, max_steps, epsilon, step_scale, normal_step):
    if origins.ndim != 2 or origins.shape[1] != 3 or directions.shape != origins.shape:
        raise ValueError(f"origins and directions must be [R, 3] of one shape, got {tuple(origins.shape)} and "
                         f"{tuple(directions.shape)}")
    if not bool((box[1] > box[0]).all()):
        raise ValueError(f"aabb_max must exceed aabb_min on every axis, got {box.tolist()}")
    if not (math.isfinite(near) and math.isfinite(far) and 0.0 <= near <= far):
        raise ValueError(f"need finite 0 <= near <= far, got near {near}, far {far}")
    if not (isinstance(max_steps, int) and max_steps >= 0):
        raise ValueError(f"max_steps must be an int >= 0, got {max_steps!r}")
    if not (epsilon > 0.0 and step_scale > 0.0 and normal_step > 0.0):
        raise ValueError(f"epsilon, step_scale and normal_step must be > 0, got {epsilon}, {step_scale}, "
                         f"{normal_step}")


@torch.no_grad()
def sphere_trace(origins: torch.Tensor, directions: torch.Tensor, table: torch.Tensor, grid_cfg: HashGridConfig,
                 params: torch.Tensor, mlp_cfg: MLPConfig, *, aabb_min, aabb_max, near: float, far: float,
                 max_steps: int = 64, epsilon: float = 1e-3, step_scale: float = 1.0,
                 normal_step: float = 1e-3) -> TraceOutput:
    """Sphere-trace rays x(t) = origins + t directions ([R, 3], world; directions of any non-zero length)
    against the SDF f = output 0 of MLP(encode_hashgrid((x - aabb_min) / (aabb_max - aabb_min))), read in
    WORLD units (train the field on world distances). Marches t from max(near, box entry) by step_scale
    f / |d| until f < epsilon (a hit, inside included), t passes min(far, box exit) or max_steps
    evaluations; normals are unit central differences with step normal_step (world units). Fields as
    `infer_field` takes them (table float16/32/64, params float16/32/64, float64 for both or neither; a 3D
    grid, any MLP output activation, usually "none"); tensors on runtime.device(). Outputs in float32
    (float64 for float64 fields): see TraceOutput. Not differentiable."""
    runtime.ensure_init()
    _check_field(table, grid_cfg, params, mlp_cfg)
    dtype = torch.float64 if table.dtype == params.dtype == torch.float64 else torch.float32
    box = torch.stack([torch.as_tensor(v).detach().cpu().to(dtype).reshape(3) for v in (aabb_min, aabb_max)])
    _check_march(origins, directions, box, near, far, max_steps, epsilon, step_scale, normal_step)  # box on the CPU
    box = box.to(table.device)
    n_rays = origins.shape[0]
    t = torch.empty(n_rays, dtype=dtype, device=origins.device)
    normals = torch.empty((n_rays, 3), dtype=dtype, device=origins.device)
    steps = torch.empty(n_rays, dtype=torch.int32, device=origins.device)
    if n_rays:
        k = make_trace_kernels(grid_cfg, _NAMES[table.dtype], mlp_cfg, _NAMES[params.dtype], runtime.generation())
        k.trace(origins.to(dtype).contiguous(), directions.to(dtype).contiguous(), box, table.contiguous(),
                params.contiguous(), float(near), float(far), int(max_steps), float(epsilon), float(step_scale),
                float(normal_step), t, normals, steps)
    return TraceOutput(t=t, hit=torch.isfinite(t), normals=normals, steps=steps)
