"""Pure-torch fused MLP: the reference of `op.fused_mlp`, same signature and flat parameter layout.

float16 follows the kernels' contract (kernels.py): inputs and weights as given, arithmetic in float32,
every layer's output rounded to float16 (hidden activations after the ReLU, the last layer before the
output activation) and the activated output rounded again. float32 and float64 compute in
themselves. Differentiable by autograd in inputs and params.
"""

import torch
import torch.nn.functional as F

from ngfx.kernels.networks.mlp.config import MLPConfig

__all__ = ["activate", "fused_mlp", "layer_weights"]


def layer_weights(params: torch.Tensor, cfg: MLPConfig) -> list[torch.Tensor]:
    """Views of the flat vector as the weight matrices [(out, in), ...], input layer first."""
    return [params[off:off + out * inp].view(out, inp)
            for (out, inp), off in zip(cfg.layer_shapes(), cfg.layer_offsets())]


def activate(z: torch.Tensor, name: str) -> torch.Tensor:
    """The output activation (config.ACTIVATIONS); softplus is torch's (beta 1, linear past 20)."""
    if name == "sigmoid":
        return torch.sigmoid(z)
    if name == "exp":
        return torch.exp(z)
    if name == "softplus":
        return F.softplus(z)
    return z


def fused_mlp(inputs: torch.Tensor, params: torch.Tensor, cfg: MLPConfig) -> torch.Tensor:
    """y = act_out(W_h relu(... relu(W_0 x))) per row of inputs [N, n_inputs]; params [cfg.n_params]."""
    half = inputs.dtype == torch.float16
    compute = torch.float32 if half else inputs.dtype
    h = inputs.to(compute)
    weights = layer_weights(params.to(compute), cfg)
    for w in weights[:-1]:
        h = _stored(torch.relu(h @ w.T), half)
    return activate(_stored(h @ weights[-1].T, half), cfg.output_activation).to(inputs.dtype)


def _stored(v: torch.Tensor, half: bool) -> torch.Tensor:
    """v as the kernels keep it between layers: rounded to float16 for float16 storage."""
    return v.to(torch.float16).to(v.dtype) if half else v
