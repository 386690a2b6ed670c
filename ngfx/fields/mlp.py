"""`FusedMLP`: the bias-free ReLU MLP of tcnn's fully fused network (REFERENCE 4.3) as a torch module.

The parameter `params` [cfg.n_params] is float32 and holds the weight matrices one after another, each
row-major (out, in), in `cfg.layer_shapes()` order. With dtype "float16" each forward hands the op
`params.half()` (fp32 master weights, fp16 compute weights; autograd casts the gradient back).

Initialisation, derived for scale preservation through the ReLU layers (He et al. 2015's argument):
for z = W x with zero-mean i.i.d. weights independent of x, Var(z_j) = n_in Var(W) E[x_i^2].
- A layer fed by a ReLU gets x = relu(z_prev) with z_prev symmetric about 0, so E[x^2] = Var(z_prev) / 2;
  keeping Var(z) = Var(z_prev) needs Var(W) = 2 / n_in. U(-a, a) has variance a^2 / 3, so a = sqrt(6 / n_in).
  This holds for W_1 .. W_h, the output layer included (its input is rectified too).
- W_0 sees the raw encoding (zero-mean features, E[x^2] = Var(x)), so Var(W_0) = 1 / n_in and
  a = sqrt(3 / n_in): the first pre-activations have the inputs' scale.
Each layer is drawn in order from one CPU generator, so a seed gives the same weights on every device.

ops="kernels" runs the Taichi op (`ngfx.kernels.networks.mlp.op.fused_mlp`, tensors on
`ngfx.kernels.runtime.device()`), ops="reference" its pure-torch twin.
"""

import math
from typing import Literal

import torch

from ngfx.fields.hashgrid import check_field_args
from ngfx.kernels.networks.mlp.config import MLPConfig

__all__ = ["FusedMLP", "init_mlp_params"]


def init_mlp_params(cfg: MLPConfig, generator: torch.Generator) -> torch.Tensor:
    """The flat float32 weights [cfg.n_params] drawn as the module docstring derives, on generator's device."""
    chunks = []
    for layer, (n_out, n_in) in enumerate(cfg.layer_shapes()):
        bound = math.sqrt((3.0 if layer == 0 else 6.0) / n_in)
        w = torch.empty(n_out * n_in, dtype=torch.float32, device=generator.device)
        chunks.append(w.uniform_(-bound, bound, generator=generator))
    return torch.cat(chunks)


def mlp_op(ops: str):
    """The fused_mlp function that `ops` names (imported on first use: no Taichi work at import)."""
    if ops == "reference":
        from ngfx.kernels.networks.mlp.reference import fused_mlp
    else:
        from ngfx.kernels.networks.mlp.op import fused_mlp
    return fused_mlp


class FusedMLP(torch.nn.Module):
    """inputs [N, n_inputs] -> [N, n_outputs] float32 (module docstring); the inputs are cast to the
    compute dtype (float16 features for dtype "float16").

    init=False leaves the weights zero (for a module about to receive a state_dict)."""

    def __init__(self, cfg: MLPConfig, dtype: Literal["float32", "float16"] = "float32", *,
                 generator: torch.Generator | None = None, seed: int = 0, device=None,
                 ops: Literal["kernels", "reference"] = "kernels", init: bool = True):
        super().__init__()
        if not isinstance(cfg, MLPConfig):
            raise TypeError(f"cfg must be an MLPConfig, got {type(cfg).__name__}")
        check_field_args(dtype, ops)
        self.cfg, self.dtype, self.ops = cfg, dtype, ops
        if init:
            params = init_mlp_params(cfg, generator if generator is not None else torch.Generator().manual_seed(seed))
            params = params.to(device) if device is not None else params
        else:
            params = torch.zeros(cfg.n_params, dtype=torch.float32, device=device)
        self.params = torch.nn.Parameter(params)

    def compute_params(self) -> torch.Tensor:
        """The weights the op reads: the master itself (float32) or its float16 copy (differentiable)."""
        return self.params.half() if self.dtype == "float16" else self.params

    def weight(self, layer: int) -> torch.Tensor:
        """Layer `layer`'s matrix (out, in), a view of the master `params`."""
        n_out, n_in = self.cfg.layer_shapes()[layer]
        start = self.cfg.layer_offsets()[layer]
        return self.params[start:start + n_out * n_in].view(n_out, n_in)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.ndim != 2 or inputs.shape[1] != self.cfg.n_inputs:
            raise ValueError(f"inputs must be [N, {self.cfg.n_inputs}], got {tuple(inputs.shape)}")
        params = self.compute_params()
        out = mlp_op(self.ops)(inputs.to(params.dtype), params, self.cfg)  # the op computes in one dtype
        return out.float()

    def extra_repr(self) -> str:
        c = self.cfg
        return (f"{c.n_inputs} -> {c.n_hidden_layers} x {c.width} ReLU -> {c.n_outputs} {c.output_activation}, "
                f"params={c.n_params}, dtype={self.dtype}")
