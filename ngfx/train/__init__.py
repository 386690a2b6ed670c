"""The training harness every representation shares (Gaussians now; NeRF and neural meshes later).

- `config`: one frozen kw_only config dataclass per method, docstring under each field, saved/loaded as JSON;
- `optim`: Adam over named parameter groups, learning-rate schedules, Adam-state surgery for densification;
- `losses`: L1, SSIM, 0.8 L1 + 0.2 (1 - SSIM), PSNR (no LPIPS: its weights are not available offline);
- `checkpoint`: atomic torch.save files loaded with weights_only=True, RNG states;
- `progress`: JSONL metrics log, progress line or tqdm bar, per-stage timer;
- `loop`: `TrainLoop` (evaluation, checkpoints, bit-identical resume, Ctrl-C, non-finite loss).
Imports torch, numpy and the standard library only, plus ngfx.errors and ngfx.atomic; tqdm when present.
"""

from ngfx.train.checkpoint import load_checkpoint, restore_rng_state, rng_state, save_checkpoint
from ngfx.train.config import config_from_dict, config_to_dict, field_docs, load_config, save_config
from ngfx.train.loop import LoopConfig, TrainLoop, TrainResult, latest_checkpoint
from ngfx.train.losses import l1_loss, l1_ssim_loss, psnr, ssim
from ngfx.train.optim import (
    Constant,
    ExponentialDecay,
    Schedule,
    constant,
    exponential_decay,
    extend_param,
    get_param,
    make_adam,
    replace_param,
    reset_state,
    step_schedules,
)
from ngfx.train.progress import JsonlLog, Progress, StageTimer, device_sync

__all__ = [
    "Constant",
    "ExponentialDecay",
    "JsonlLog",
    "LoopConfig",
    "Progress",
    "Schedule",
    "StageTimer",
    "TrainLoop",
    "TrainResult",
    "config_from_dict",
    "config_to_dict",
    "constant",
    "device_sync",
    "exponential_decay",
    "extend_param",
    "field_docs",
    "get_param",
    "l1_loss",
    "l1_ssim_loss",
    "latest_checkpoint",
    "load_checkpoint",
    "load_config",
    "make_adam",
    "psnr",
    "replace_param",
    "reset_state",
    "restore_rng_state",
    "rng_state",
    "save_checkpoint",
    "save_config",
    "ssim",
    "step_schedules",
]
