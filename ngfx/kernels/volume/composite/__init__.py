"""Volume rendering of packed ray samples (emission-absorption quadrature, REFERENCE 4.5): a Taichi
kernel with a hand-written backward, and its torch reference."""

from ngfx.kernels.volume.composite.op import CompositeOutput, composite_along_rays

__all__ = ["CompositeOutput", "composite_along_rays"]
