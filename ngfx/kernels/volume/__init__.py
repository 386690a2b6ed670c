"""Volume-rendering kernels for ray-marched neural fields, one sub-package per op: camera rays (`rays`),
instant-ngp's occupancy grid (`occupancy`) and ray marcher over it (`march`), compositing of packed ray
samples (`composite`). Each op has a Taichi kernel and a pure-torch `reference`
of the same signature; importing this package imports no taichi (the ops initialise the runtime).
"""

from ngfx.kernels.volume.composite import CompositeOutput, composite_along_rays
from ngfx.kernels.volume.march import MarchOutput, march_rays
from ngfx.kernels.volume.occupancy import (
    OccupancyGridConfig,
    cell_centers,
    cells_to_update,
    pack_bitfield,
    point_cells,
    sample_in_cells,
    unpack_bitfield,
    update_occupancy,
)
from ngfx.kernels.volume.rays import distance_to_depth, generate_rays

__all__ = ["CompositeOutput", "MarchOutput", "OccupancyGridConfig", "cell_centers", "cells_to_update",
           "composite_along_rays", "distance_to_depth", "generate_rays", "march_rays", "pack_bitfield",
           "point_cells", "sample_in_cells", "unpack_bitfield", "update_occupancy"]
