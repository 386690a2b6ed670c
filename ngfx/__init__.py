"""ngfx: a neural-graphics rendering engine whose GPU kernels are written in Taichi.

Packages, bottom to top (imports flow one way):
    kernels, scenes  ->  fields, splatting  ->  render  ->  viewer, cli

Importing ngfx does no work: Taichi is initialised lazily by `ngfx.kernels.runtime.ensure_init()`.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
