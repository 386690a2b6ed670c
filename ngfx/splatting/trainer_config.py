"""The config and the result of `train_gaussians` (REFERENCE 2.7 for 3DGS, 3.5-3.6 for 4D Gaussians).

Learning rates are INRIA's (gsplat `simple_trainer`); the means' rate decays log-linearly over the run and is
multiplied by the scene extent (1.1 x the camera-centre radius). For gs4d the means group is `means4`, so
the time column shares that rate (seconds times extent; D-NeRF times are in [0, 1]).

Densification keeps `DensifyConfig`'s step counts, written for INRIA's 30k steps, and compresses them to the
run with `densify_scale` (default steps / 30000), so a 3000-step run densifies from step 50 to 1500 (every 25
steps, the floor; scaled it would be 10) and resets opacity every 300. Pass densify_scale=1 to use the counts
as given.
"""

import dataclasses
import math
from typing import Literal

from ngfx.splatting.strategy import DensifyConfig

__all__ = ["GaussianTrainConfig", "TrainSummary", "scaled_densify"]

_REFERENCE_STEPS = 30_000
MIN_DENSIFY_EVERY = 25  # steps between densifications in compressed schedules (INRIA: 100)


@dataclasses.dataclass(frozen=True, kw_only=True)
class GaussianTrainConfig:
    """Everything `train_gaussians` needs besides the capture; saved as RUN/config.json."""

    method: Literal["gs3d", "gs4d"] = "gs3d"
    """Static 3D Gaussians (Kerbl et al. 2023) or dynamic XYZT Gaussians sliced at each view's time."""
    steps: int = 30_000
    """Optimisation steps (one view per step for gs3d, `times_per_step` views for gs4d)."""
    seed: int = 0
    """Seeds the initialisation, the view order and the split samples (all saved in checkpoints)."""
    lr_means: float = 1.6e-4
    """Initial learning rate of the means, times the scene extent."""
    lr_means_final: float = 1.6e-6
    """Learning rate of the means at the last step, times the scene extent (log-linear decay)."""
    lr_sh_dc: float = 2.5e-3
    """Learning rate of the SH DC colour term."""
    lr_sh_rest: float = 2.5e-3 / 20
    """Learning rate of the higher SH bands (INRIA: DC / 20)."""
    lr_opacity: float = 0.05
    """Learning rate of the opacity logits."""
    lr_scales: float = 5e-3
    """Learning rate of the log scales."""
    lr_rotation: float = 1e-3
    """Learning rate of the quaternions (gs3d) or 4D rotations (gs4d)."""
    ssim_weight: float = 0.2
    """w in (1 - w) L1 + w (1 - SSIM)."""
    sh_degree: int = 3
    """Final SH degree (0..3); the model always holds all of its bands."""
    sh_degree_interval: int = 1000
    """One more SH band is used every this many steps (INRIA: 1000); 0 = all bands from the start."""
    densify: DensifyConfig | None = dataclasses.field(default_factory=DensifyConfig)
    """Clone/split/prune/opacity-reset thresholds and 30k-step schedule (ngfx.splatting.strategy); None = off."""
    densify_scale: float | None = None
    """Multiply densify's step counts by this (every and reset_every at least 1); None = steps / 30000."""
    init: Literal["auto", "points", "hull", "random"] = "auto"
    """Initial Gaussians: the capture's point cloud, the foreground masks' visual hull, uniform random in the
    scene box, or auto (points if any, else the hull if the frames have masks, else random)."""
    n_init: int = 100_000
    """Number of random initial Gaussians (a larger point cloud is subsampled to this)."""
    init_opacity: float = 0.1
    """Opacity of every initial Gaussian."""
    background: tuple[float, float, float] | None = None
    """Colour behind the Gaussians; None = LoadOptions.background for RGBA captures, black otherwise."""
    eval_every: int = 0
    """Evaluate PSNR / SSIM on the eval views every this many steps; 0 = only at the end."""
    n_eval_views: int = 8
    """Eval views: up to this many val views (evenly spaced), else the first this many train views."""
    checkpoint_every: int = 1000
    """Write a checkpoint every this many steps (and at the end or on Ctrl-C); 0 = only then."""
    log_every: int = 100
    """Append a line to RUN/metrics.jsonl every this many steps."""
    n_scene_cameras: int = 4
    """How many of the capture's cameras RUN/scene.json lists (for `ngfx render RUN`)."""
    times_per_step: int = 2
    """gs4d: views (with their times) rendered per step, their losses averaged (Yang: 2 on D-NeRF, 4 on N3V)."""
    rotation_4d: Literal["dualquat", "rotor"] = "dualquat"
    """gs4d: rotation parameterisation (Yang's two quaternions or Duan's rotor)."""
    min_temporal_weight: float = 0.05
    """gs4d: temporal culling threshold on p(t) (Yang 0.05)."""
    ops: Literal["kernels", "reference"] = "kernels"
    """Taichi kernels, or their pure-torch twins (slow; deterministic, where the kernels' parallel float
    atomics make CPU runs with several threads differ in the last bits)."""
    entropy_weight: float = 0.0
    """gs4d and gs3d: weight of Duan's opacity entropy loss (Duan: 0.001); 0 = off."""
    consistency_weight: float = 0.0
    """gs4d: weight of Duan's 4D velocity-consistency loss L_4D over K nearest neighbours (Duan: 0.05); 0 = off."""
    consistency_k: int = 8
    """gs4d: neighbours per Gaussian for L_4D, found in (x, y, z, 5 t) (Duan: 8)."""
    sh_degree_t: int = 0
    """gs4d: temporal degree of Yang's spherindrical harmonics (0 = plain SH as Duan; Yang: 1 or 2)."""
    max_seconds: float = 0.0
    """Stop after this many seconds of training (evaluation and checkpoints not counted); 0 = no limit."""
    eval_at_seconds: tuple[float, ...] = ()
    """Also evaluate when the training time first passes each of these marks (seconds), e.g. (60, 120, 300)."""
    near_plane: float = 0.0
    """Training and evaluation ignore Gaussians nearer than this to the camera (world units); 0 = the cameras'
    own near plane. For fixed rigs: a Gaussian just in front of one camera can explain that camera's views
    while no other camera sees it."""
    time_stages: bool = False
    """Wait for the GPU around each timed stage so the per-stage times are true (costs a little speed)."""

    def __post_init__(self):
        if self.steps < 1 or self.n_init < 1 or self.times_per_step < 1 or self.n_eval_views < 1:
            raise ValueError(f"steps, n_init, times_per_step and n_eval_views must be >= 1, got {self.steps}, "
                             f"{self.n_init}, {self.times_per_step}, {self.n_eval_views}")
        if not 0 <= self.sh_degree <= 3 or self.sh_degree_interval < 0:
            raise ValueError(f"need sh_degree in 0..3 and sh_degree_interval >= 0, got {self.sh_degree}, "
                             f"{self.sh_degree_interval}")
        if not 0.0 < self.init_opacity < 1.0:
            raise ValueError(f"init_opacity must be in (0, 1), got {self.init_opacity}")
        rates = (self.lr_means, self.lr_means_final, self.lr_sh_dc, self.lr_sh_rest, self.lr_opacity,
                 self.lr_scales, self.lr_rotation, self.entropy_weight, self.consistency_weight)
        if not all(r >= 0 and math.isfinite(r) for r in rates) or min(self.lr_means, self.lr_means_final) <= 0:
            raise ValueError("learning rates and loss weights must be finite and >= 0 (the means' > 0)")
        if self.consistency_k < 2 or not 0 <= self.sh_degree_t <= 2:
            raise ValueError(f"need consistency_k >= 2 and sh_degree_t in 0..2, got {self.consistency_k}, "
                             f"{self.sh_degree_t}")
        if not (self.max_seconds >= 0 and math.isfinite(self.max_seconds) and 0 <= self.near_plane < 1e6
                and all(s > 0 and math.isfinite(s) for s in self.eval_at_seconds)):
            raise ValueError("max_seconds and near_plane must be finite and >= 0, eval_at_seconds finite and > 0")
        if self.densify_scale is not None and not self.densify_scale > 0:
            raise ValueError(f"densify_scale must be > 0, got {self.densify_scale}")

    def sh_degree_at(self, step: int) -> int:
        """The SH degree rendered at `step` (0-based): one band more every sh_degree_interval steps."""
        if self.sh_degree_interval == 0:
            return self.sh_degree
        return min(self.sh_degree, step // self.sh_degree_interval)


def scaled_densify(cfg: GaussianTrainConfig) -> DensifyConfig | None:
    """cfg.densify with its step counts multiplied by densify_scale (module docstring); None when off."""
    if cfg.densify is None:
        return None
    f = cfg.densify_scale if cfg.densify_scale is not None else cfg.steps / _REFERENCE_STEPS
    d = cfg.densify
    until = None if d.prune_big_until is None else round(d.prune_big_until * f)
    # Floors: each densification averages gradients over `every` views, and a reset needs steps to recover;
    # compressed below these, a 400-step run densified every step and grew 20k Gaussians to 500k in 200 steps.
    every = max(MIN_DENSIFY_EVERY, round(d.every * f))
    return dataclasses.replace(d, start=round(d.start * f), stop=round(d.stop * f), every=every,
                               reset_every=max(10 * every, round(d.reset_every * f)),
                               prune_big_from=round(d.prune_big_from * f), prune_big_until=until)


@dataclasses.dataclass(frozen=True)
class TrainSummary:
    """What a `train_gaussians` run did. PSNR (dB) and SSIM are per-view means over the eval views;
    psnr_init is the untrained model's PSNR on the same views. status: "finished", "interrupted" or
    "non_finite" (then no model.ply is written and the metrics are those of the last evaluation, or NaN)."""

    steps: int
    seconds: float
    psnr_val: float
    ssim_val: float
    psnr_init: float
    n_gaussians: int
    stage_seconds: dict[str, float]
    status: str
    evals: list = dataclasses.field(default_factory=list)
    """Every evaluation of the run: dicts with "step", "train_seconds" (training time before it, NaN for the
    closing one of a resumed or interrupted run) and "psnr", "ssim"."""
