"""Fused neural-field inference: hash-grid encoding + MLP in one launch (`infer_field`, `render_field_image`)."""

from ngfx.kernels.networks.field.op import infer_field, render_field_image

__all__ = ["infer_field", "render_field_image"]
