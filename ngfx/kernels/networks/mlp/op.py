"""Public `fused_mlp`: the whole MLP in one Taichi launch forward and one backward (kernels.py), where the
torch reference (reference.py) takes two ops a layer each way and writes every activation to memory.
"""

import torch

from ngfx.kernels import runtime
from ngfx.kernels.networks.mlp.config import MLPConfig
from ngfx.kernels.networks.mlp.kernels import make_mlp_kernels, saved_width, uses_shared_memory
from ngfx.kernels.networks.mlp.kernels_bwd import PORTABLE_CHUNKS

__all__ = ["fused_mlp"]

_DTYPE_NAMES = {torch.float16: "f16", torch.float32: "f32", torch.float64: "f64"}


def _kernels(cfg: MLPConfig, dtype: torch.dtype):
    return make_mlp_kernels(cfg, _DTYPE_NAMES[dtype], runtime.generation())


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype == torch.float16 else dtype


class _FusedMLP(torch.autograd.Function):
    @staticmethod
    def forward(ctx, inputs, params, cfg):
        x, p = inputs.detach(), params.detach()
        want = bool(ctx.needs_input_grad[0] or ctx.needs_input_grad[1])
        outputs = x.new_empty((x.shape[0], cfg.n_outputs))
        saved = x.new_empty((x.shape[0] if want else 1, saved_width(cfg)))  # a dummy when no gradient
        if x.shape[0]:
            _kernels(cfg, x.dtype).fwd(x, p, int(want), outputs, saved)
        ctx.save_for_backward(x, p, saved)
        ctx.cfg = cfg
        return outputs

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_outputs):
        x, p, saved = ctx.saved_tensors
        cfg, (need_x, need_p, _) = ctx.cfg, ctx.needs_input_grad
        compute = _compute_dtype(x.dtype)
        grad_x = x.new_zeros((x.shape[0] if need_x else 1, cfg.n_inputs), dtype=compute)
        portable = not uses_shared_memory(runtime.arch())  # the CPU path's per-task partial sums
        grad_p = p.new_zeros((PORTABLE_CHUNKS, cfg.n_params) if portable else (cfg.n_params,), dtype=compute)
        if x.shape[0]:
            flags = int(need_x) | 2 * int(need_p)
            _kernels(cfg, x.dtype).bwd(x, p, saved, grad_outputs.to(x.dtype).contiguous(), flags, grad_x, grad_p)
        grad_p = grad_p.sum(0) if portable else grad_p
        return grad_x.to(x.dtype) if need_x else None, grad_p.to(p.dtype) if need_p else None, None


def fused_mlp(inputs: torch.Tensor, params: torch.Tensor, cfg: MLPConfig) -> torch.Tensor:
    """y = act_out(W_h relu(... relu(W_0 x))) for every row x of inputs [N, n_inputs]; params [cfg.n_params]
    holds the weight matrices row-major (out, in) one after another (config.py), no biases.

    dtypes (inputs and params alike, on the backend's device): float32 computes in float32; float16 stores
    inputs, weights, hidden activations (rounded between layers) and outputs in float16 but multiplies and
    accumulates in float32, because Taichi's scalar half FMAs are no faster than float32 ones on CUDA cores
    (no tensor cores, no half2 here) and a float16 accumulator over up to 128 terms loses ~5 bits; float64
    exists for gradcheck (CPU). Returns [N, n_outputs] in the inputs' dtype. Differentiable in inputs and
    params (first order only); float16 gradients are accumulated in float32 and returned in float16, so
    small ones underflow unless the loss is scaled. A gradient-enabled call saves h * width + n_outputs
    values a row for the backward; N * (h * width + n_outputs) must stay below 2^31 (32-bit indexing).
    """
    runtime.ensure_init()
    if inputs.ndim != 2 or inputs.shape[1] != cfg.n_inputs:
        raise ValueError(f"inputs must be [N, {cfg.n_inputs}], got {tuple(inputs.shape)}")
    if params.shape != (cfg.n_params,):
        raise ValueError(f"params must be [{cfg.n_params}] (cfg.n_params), got {tuple(params.shape)}")
    if inputs.dtype not in _DTYPE_NAMES or params.dtype != inputs.dtype:
        raise ValueError(f"inputs and params must share a dtype of float16, float32 or float64, got "
                         f"{inputs.dtype} and {params.dtype}")
    return _FusedMLP.apply(inputs.contiguous(), params.contiguous(), cfg)
