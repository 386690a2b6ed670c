"""The config, the result and the run description of `fit_image` (gigapixel image approximation, REFERENCE 4.7).

Defaults are instant-ngp's image recipe: a 2D hash grid with L 16, F 2, T 2^24, N_min 16 and N_max =
max(W, H) / 2 into a 64-wide MLP with 2 hidden layers and a sigmoid output, L2 loss, Adam at 1e-2 on
2^18 random samples per step. T 2^24 is 2^24 x 2 x 4 B = 128 MB per hashed level for the fp32 master table
(plus twice that of Adam moments): take log2_table_size 14..19 for small images and tests.
"""

import dataclasses
import math
from pathlib import Path
from typing import Literal

from ngfx.kernels.encodings.hashgrid.config import HashGridConfig
from ngfx.kernels.networks.mlp.config import MLPConfig

__all__ = ["IMAGE_RUN_FORMAT", "ImageFitConfig", "ImageFitSummary", "ImageRunMeta", "field_configs"]

IMAGE_RUN_FORMAT = "ngfx-image-run-1"
FP16_LOSS_SCALE = 128.0  # tcnn's default for half precision: keeps small table gradients above fp16 underflow


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImageFitConfig:
    """Everything `fit_image` needs besides the image; saved as RUN/config.json."""

    steps: int = 5000
    """Optimisation steps, one batch of random samples each."""
    seed: int = 0
    """Seeds the table and MLP initialisation and the sample positions (saved in checkpoints)."""
    batch_size: int = 1 << 18
    """Random sample positions per step (instant-ngp: 2^18)."""
    n_levels: int = 16
    """Hash-grid levels L."""
    n_features: int = 2
    """Features per level F."""
    log2_table_size: int = 24
    """log2 of T, the most table rows per level (instant-ngp images: 24; 14..19 for small images)."""
    base_resolution: int = 16
    """Coarsest grid resolution N_min (vertices per axis)."""
    finest_resolution: int | None = None
    """Finest grid resolution N_max; None = max(W, H) / 2 (at least base_resolution)."""
    width: int = 64
    """MLP width: 16, 32, 64 or 128."""
    n_hidden_layers: int = 2
    """MLP hidden layers (ReLU), 1..8."""
    output_activation: Literal["auto", "sigmoid", "none", "exp", "softplus"] = "auto"
    """MLP output activation; auto = sigmoid when every pixel value lies in [0, 1] (PNG, JPEG, most EXRs),
    else none (HDR values outside [0, 1], which a sigmoid cannot reach)."""
    lr: float = 1e-2
    """Adam learning rate of the table and the MLP (beta1 0.9, beta2 0.99, eps 1e-15)."""
    weight_decay: float = 1e-6
    """L2 regularisation of the MLP weights (added to their gradient); the table gets none."""
    dtype: Literal["float32", "float16"] = "float32"
    """Compute precision of the table and MLP weights (fp32 masters either way)."""
    loss_scale: float | None = None
    """Multiply the loss by this before backward (Adam does not see it); None = 1 for float32, 128 for
    float16, whose small table gradients would otherwise flush to zero."""
    max_seconds: float = 0.0
    """Stop after this many seconds of training (evaluation and checkpoints not counted); 0 = no limit."""
    eval_every: int = 0
    """Evaluate PSNR every this many steps; 0 = only at the end."""
    eval_pixels: int = 1 << 20
    """PSNR is measured at this many pixel centres (a fixed random subset; every pixel when the image has
    fewer); 0 = every pixel."""
    checkpoint_every: int = 1000
    """Write a checkpoint every this many steps (and at the end or on Ctrl-C); 0 = only then."""
    log_every: int = 100
    """Append a line to RUN/metrics.jsonl and show loss / PSNR every this many steps."""
    ops: Literal["kernels", "reference"] = "kernels"
    """Taichi kernels, or their pure-torch twins (slow; for tests and comparisons)."""

    def __post_init__(self):
        counts = (self.steps, self.batch_size, self.log_every)
        if min(counts) < 1 or min(self.eval_every, self.eval_pixels, self.checkpoint_every) < 0:
            raise ValueError(f"steps, batch_size and log_every must be >= 1, eval_every, eval_pixels and "
                             f"checkpoint_every >= 0, got {counts}, {self.eval_every}, {self.eval_pixels}, "
                             f"{self.checkpoint_every}")
        if not (self.lr > 0 and math.isfinite(self.lr) and 0 <= self.weight_decay < 1):
            raise ValueError(f"need lr > 0 and 0 <= weight_decay < 1, got {self.lr}, {self.weight_decay}")
        if self.loss_scale is not None and not (self.loss_scale > 0 and math.isfinite(self.loss_scale)):
            raise ValueError(f"loss_scale must be finite and > 0, got {self.loss_scale}")
        if not (self.max_seconds >= 0 and math.isfinite(self.max_seconds)):
            raise ValueError(f"max_seconds must be finite and >= 0, got {self.max_seconds}")
        if self.finest_resolution is not None and self.finest_resolution < self.base_resolution:
            raise ValueError(f"finest_resolution ({self.finest_resolution}) must be >= base_resolution "
                             f"({self.base_resolution})")
        field_configs(self, 2 * self.base_resolution, 2 * self.base_resolution, 3, True)  # the kernels' limits

    def effective_loss_scale(self) -> float:
        """loss_scale, or its default for dtype."""
        if self.loss_scale is not None:
            return self.loss_scale
        return FP16_LOSS_SCALE if self.dtype == "float16" else 1.0


def field_configs(cfg: ImageFitConfig, width: int, height: int, channels: int,
                  in_unit_range: bool) -> tuple[HashGridConfig, MLPConfig]:
    """The field's hash-grid and MLP configs for a width x height image with `channels` channels whose values
    lie in [0, 1] or not (`in_unit_range`, for output_activation "auto"). ValueError for impossible values."""
    finest = cfg.finest_resolution or max(cfg.base_resolution, max(width, height) // 2)
    grid = HashGridConfig(n_dims=2, n_levels=cfg.n_levels, n_features=cfg.n_features,
                          log2_table_size=cfg.log2_table_size, base_resolution=cfg.base_resolution,
                          finest_resolution=finest)
    activation = cfg.output_activation
    if activation == "auto":
        activation = "sigmoid" if in_unit_range else "none"
    mlp = MLPConfig(n_inputs=grid.n_outputs, n_outputs=channels, width=cfg.width,
                    n_hidden_layers=cfg.n_hidden_layers, output_activation=activation)
    return grid, mlp


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImageRunMeta:
    """What a viewer needs besides the field: saved as RUN/image.json by `fit_image`.

    uv convention (`ngfx.fields.image_sampling`): u = (x + 0.5) / width, v = (y + 0.5) / height at pixel
    centres, v pointing down (row 0 at v = 0.5 / height, the top)."""

    width: int
    """Width in pixels of the trained image."""
    height: int
    """Height in pixels of the trained image."""
    channels: int
    """3 (RGB) or 4 (RGBA, straight alpha): the field's outputs."""
    is_linear: bool
    """True: the field outputs linear values (EXR); show them through an sRGB encode + clamp
    (`ngfx.fields.image_sampling.to_display`). False: display-encoded values, shown as they are."""
    source: str = ""
    """The image file it was trained on."""
    source_bits: int = 8
    """Bits per sample of that file."""
    format: str = IMAGE_RUN_FORMAT
    """Marks the file as an ngfx image run."""


@dataclasses.dataclass(frozen=True)
class ImageFitSummary:
    """What a `fit_image` run did. PSNR (dB, peak 1, over the eval pixels; on linear values for linear
    images); psnr_init is the untrained field's. status: "finished", "interrupted" or "non_finite" (then no
    RUN/field.pt is written)."""

    steps: int
    seconds: float
    psnr: float
    psnr_init: float
    status: str
    stage_seconds: dict[str, float]
    run_dir: Path
    evals: list = dataclasses.field(default_factory=list)
    """Every evaluation of the run: dicts with "step", "train_seconds" and "psnr"."""
