"""NeuS opacity of ray sections from the SDF and its slope along the ray (Wang et al. 2021), with its torch twin."""

from ngfx.kernels.sdf.neus.op import neus_alpha

__all__ = ["neus_alpha"]
