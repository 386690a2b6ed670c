"""Tile binning of projected Gaussians (Taichi + torch sort) with a pure-torch reference."""

from ngfx.kernels.splat.tiles.op import TileMap, map_to_tiles, tile_grid

__all__ = ["TileMap", "map_to_tiles", "tile_grid"]
