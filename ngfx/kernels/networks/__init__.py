"""Neural-network kernels for neural fields: the fully fused MLP (mlp/)."""

from ngfx.kernels.networks.mlp import MLPConfig, fused_mlp

__all__ = ["MLPConfig", "fused_mlp"]
