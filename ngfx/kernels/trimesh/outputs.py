"""Result type shared by the Taichi rasterizer and its torch reference."""

import dataclasses

import torch

__all__ = ["RasterOutput"]


@dataclasses.dataclass(frozen=True)
class RasterOutput:
    """Closest hit per pixel.

    face_ids: [H, W] int32, -1 where no triangle covers the pixel centre.
    bary:     [H, W, 3] perspective-correct barycentrics of the hit (zeros when empty).
    depth:    [H, W] camera-space z of the hit (+inf when empty).
    """

    face_ids: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor
