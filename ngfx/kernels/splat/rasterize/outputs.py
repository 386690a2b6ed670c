"""Result type shared by the Taichi Gaussian rasterizer and its torch reference."""

import dataclasses

import torch

__all__ = ["SplatImage"]


@dataclasses.dataclass(frozen=True)
class SplatImage:
    """One rendered view; rows are image rows (y down), pixel (i, j) has its centre at (i + 0.5, j + 0.5).

    features:     [H, W, F] sum_i w_i f_i + T_final * background, w_i = alpha_i T_i (front to back).
    alpha:        [H, W] accumulated opacity 1 - T_final.
    depth:        [H, W] expected camera z, sum_i w_i z_i / alpha (0 where alpha == 0).
    median_depth: [H, W] z of the Gaussian at which T first drops to <= 0.5 (0 if never); not differentiable.
    last_ids:     [H, W] int32 id of the last Gaussian blended into the pixel (-1 if none).
    features, alpha and depth are differentiable in the rasterizer's float inputs.
    """

    features: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor
    median_depth: torch.Tensor
    last_ids: torch.Tensor
