"""instant-ngp's multi-cascade occupancy grid (REFERENCE 4.4): config and layout (config.py), the update
plan and cell sampling in torch (cells.py), the update and bitfield packing in Taichi (kernels.py, op.py)
with their torch twin (reference.py). The grid never calls a field: callers evaluate density at
`sample_in_cells` points and pass the values in (cells.py shows the loop)."""

from ngfx.kernels.volume.occupancy.cells import (
                                                 cell_centers,
                                                 cells_to_update,
                                                 point_cells,
                                                 sample_in_cells,
                                                 unpack_bitfield,
)
from ngfx.kernels.volume.occupancy.config import OccupancyGridConfig
from ngfx.kernels.volume.occupancy.op import pack_bitfield, update_occupancy

__all__ = ["OccupancyGridConfig", "cell_centers", "cells_to_update", "pack_bitfield", "point_cells",
           "sample_in_cells", "unpack_bitfield", "update_occupancy"]
