"""The fully fused MLP (tcnn's FullyFusedMLP contract in Taichi; REFERENCE 4.3): config, op and reference."""

from ngfx.kernels.networks.mlp.config import ACTIVATIONS, MLPConfig
from ngfx.kernels.networks.mlp.op import fused_mlp

__all__ = ["ACTIVATIONS", "MLPConfig", "fused_mlp"]
