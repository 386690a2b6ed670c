"""Fused render preprocess (`preprocess_gaussians`): project + SH in one kernel, packed for the rasterizer."""

from ngfx.kernels.splat.fused.op import Preprocessed, preprocess_gaussians, preprocess_gaussians_4d

__all__ = ["Preprocessed", "preprocess_gaussians", "preprocess_gaussians_4d"]
