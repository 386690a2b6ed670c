"""Input encodings for neural fields: the multi-resolution hash grid (REFERENCE 4.1), Taichi kernels with
torch references."""

from ngfx.kernels.encodings.hashgrid import HashGridConfig, encode_hashgrid

__all__ = ["HashGridConfig", "encode_hashgrid"]
