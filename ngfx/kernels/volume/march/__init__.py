"""instant-ngp's ray marcher over an occupancy grid (REFERENCE 4.4): `march_rays` (Taichi, op.py and
kernels.py) and its torch twin (reference.py, which defines the samples), returning packed `MarchOutput`
samples for `composite_along_rays`."""

from ngfx.kernels.volume.march.op import march_rays
from ngfx.kernels.volume.march.outputs import MarchOutput

__all__ = ["MarchOutput", "march_rays"]
