"""Multi-resolution hash-grid encoding (Mueller et al. 2022, tcnn's convention; REFERENCE 4.1): config and
layout (config.py), Taichi kernels and a `ti.func` builder for fused kernels (kernels.py), the autograd op
(op.py) and its torch twin (reference.py)."""

from ngfx.kernels.encodings.hashgrid.config import HashGridConfig
from ngfx.kernels.encodings.hashgrid.op import encode_hashgrid

__all__ = ["HashGridConfig", "encode_hashgrid"]
