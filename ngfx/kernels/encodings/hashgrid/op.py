"""Public `encode_hashgrid`: the multi-resolution hash-grid encoding (Mueller et al. 2022, tcnn's convention,
REFERENCE 4.1) in one Taichi launch forward and one backward (kernels.py), with hand-written gradients to the
table and, when the points require grad, to the points. reference.py is its pure-torch twin.
"""

import torch

from ngfx.kernels import runtime
from ngfx.kernels.encodings.hashgrid.config import HashGridConfig
from ngfx.kernels.encodings.hashgrid.kernels import make_hashgrid_kernels
from ngfx.kernels.encodings.hashgrid.reference import compute_dtype

__all__ = ["encode_hashgrid"]

_TABLE_NAMES = {torch.float16: "f16", torch.float32: "f32", torch.float64: "f64"}


def _kernels(cfg: HashGridConfig, table_dtype: torch.dtype):
    return make_hashgrid_kernels(cfg, _TABLE_NAMES[table_dtype], runtime.generation())


class _HashGridFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, points, table, cfg):
        n = points.shape[0]
        out = points.new_empty((n, cfg.n_levels, cfg.n_features))
        if n:
            _kernels(cfg, table.dtype).fwd(points.detach(), table.detach(), out)
        ctx.save_for_backward(points, table)
        ctx.cfg = cfg
        return out.view(n, cfg.n_outputs)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        # detached: Taichi's own launch path (Vulkan) would otherwise allocate .grad on tensors needing grad
        points, table = (t.detach() for t in ctx.saved_tensors)
        cfg, (want_points, want_table, _) = ctx.cfg, ctx.needs_input_grad
        acc, n = points.dtype, points.shape[0]
        # f32 (f64) buffers even for f16 tables: the atomics accumulate many small terms per row
        grad_table = torch.zeros((cfg.n_entries if want_table else 1, cfg.n_features), dtype=acc,
                                 device=points.device)
        grad_points = torch.zeros((n if want_points else 1, cfg.n_dims), dtype=acc, device=points.device)
        if n and (want_table or want_points):
            g = grad_out.to(acc).contiguous().view(n, cfg.n_levels, cfg.n_features)
            _kernels(cfg, table.dtype).bwd(points, table, g, int(want_table), int(want_points), grad_table,
                                           grad_points)
        return (grad_points if want_points else None, grad_table.to(table.dtype) if want_table else None, None)


def encode_hashgrid(points: torch.Tensor, table: torch.Tensor, cfg: HashGridConfig) -> torch.Tensor:
    """Multi-resolution hash-grid features of points [N, D] from a table [cfg.n_entries, F].

    points: in [0, 1]^D (x, y, z[, t] normalised by the caller), float32 or float64; coordinates outside are
    clamped to [0, 1] and get no gradient there. table: float16, float32 or float64, all levels concatenated
    level by level from row cfg.level_offsets()[l]. Returns [N, L * F], level-major (level 0's F features
    first), float32, or float64 when both inputs are float64 (float16 tables accumulate in float32; a float64
    table next to float32 points is read as float32). Differentiable in the table and, when
    points.requires_grad, in the points (REFERENCE 4.1's input gradient, zero across the upper-edge wrap's
    discontinuities of slope only). First-order only: double backward (the Eikonal loss's parameter gradient)
    raises, as it needs its own kernels. Dense levels let vertex res_l at the upper edge wrap onto row
    res_l of the next line, as tcnn does (reference.py). Tensors live on runtime.device()."""
    runtime.ensure_init()
    if not isinstance(cfg, HashGridConfig):
        raise TypeError(f"cfg must be a HashGridConfig, got {type(cfg).__name__}")
    if points.ndim != 2 or points.shape[1] != cfg.n_dims:
        raise ValueError(f"points must be [N, {cfg.n_dims}], got {tuple(points.shape)}")
    if tuple(table.shape) != (cfg.n_entries, cfg.n_features):
        raise ValueError(f"table must be [{cfg.n_entries}, {cfg.n_features}] (cfg.n_entries, cfg.n_features), "
                         f"got {tuple(table.shape)}")
    if points.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"points must be float32 or float64, got {points.dtype}")
    if table.dtype not in _TABLE_NAMES:
        raise ValueError(f"table must be float16, float32 or float64, got {table.dtype}")
    dtype = compute_dtype(points, table)
    if table.dtype == torch.float64 and dtype == torch.float32:
        table = table.float()  # mixed f64 table / f32 points: read as f32 (autograd casts the gradient back)
    return _HashGridFunction.apply(points.to(dtype).contiguous(), table.contiguous(), cfg)
