"""The captures and settings of `ngfx bench train` (issue 4's quality table), and the step calibration.

| case     | data (under --data)    | method | held out                          | budget | eval marks (s)        |
|----------|------------------------|--------|-----------------------------------|--------|-----------------------|
| lego     | lego400/               | gs3d   | the Blender val/ split (100)      | 300 s  | 60, 120, 300          |
| fox      | fox/                   | gs3d   | every 8th of the 50 views         | 300 s  | 30, 60, 120, 180, 300 |
| panoptic | panoptic-basketball/   | gs4d   | cameras 1, 11, 21 (x 100 times)   | 600 s  | 60, 120, 300, 600     |
| demo     | made in code (no data) | gs3d   | every 8th view                    | 20 s   | 5, 10, 20             |

Panoptic: at commit 1fb90cc (SH degree 3, near plane 0.01, H200) the model fitted the training views
(training PSNR 31-36 dB) and drew the held-out cameras black (8.0 dB): the rig's cameras see one another's
housings, so training put dark Gaussians around each camera's lens. The Panoptic loader now sets a near plane
of 0.2 x the rig radius (0.52 here); the measured run at ff07450 used `near_plane=0.5` in this table instead.
The case also trains plain colours (SH degree 0, as Dynamic 3D Gaussians does); that change was not measured
on its own.

Steps: a run's schedules (learning-rate decay, densification window, SH bands) are laid out over its step
count, so a time-budgeted run needs a step count that fits the budget. `calibrate` trains briefly with the
case's settings (densification off), measures steps/s after a warm-up (the kernels' compile), and the run
uses steps = rate x budget x `FILL`; the budget still stops the run if Gaussian growth slows it more.
"""

import dataclasses
import io
import math
import tempfile
import time
from pathlib import Path

__all__ = ["CASES", "Case", "FILL", "calibrate", "case_capture", "case_config", "case_images",
           "planned_steps"]

FILL = 0.6
"""Share of the calibrated rate planned for: densification grows the model (3DGS: about 3x on lego) and
each step slows as it does."""


@dataclasses.dataclass(frozen=True)
class Case:
    data: str | None
    method: str
    split: str
    budget_s: float
    marks_s: tuple[float, ...]
    background: tuple[float, float, float] | None = None
    n_eval_views: int = 8
    n_init: int = 100_000
    max_steps: int = 30_000
    sh_degree: int = 3
    near_plane: float = 0.0


CASES = {
    "lego": Case("lego400", "gs3d", "auto", 300.0, (60.0, 120.0, 300.0), background=(1.0, 1.0, 1.0),
                 n_eval_views=100),
    "fox": Case("fox", "gs3d", "every:8", 300.0, (30.0, 60.0, 120.0, 180.0, 300.0), n_eval_views=7),
    "panoptic": Case("panoptic-basketball", "gs4d", "cameras:1,11,21", 600.0, (60.0, 120.0, 300.0, 600.0),
                     n_eval_views=300, sh_degree=0),
    "demo": Case(None, "gs3d", "auto", 20.0, (5.0, 10.0, 20.0), n_eval_views=4, n_init=4000, max_steps=3000),
}


def case_capture(name: str, case: Case, data_root: Path, downscale: int, work: Path):
    """(capture, LoadOptions) of a case; the demo case renders its capture into `work` first."""
    from ngfx.scenes.captures import LoadOptions, load_capture

    options = LoadOptions(downscale=downscale, split=case.split, background=case.background or (0.0, 0.0, 0.0))
    if case.data is None:
        from ngfx.render.demo_scene import build_demo_scene
        from ngfx.render.synthetic_capture import render_capture

        folder = render_capture(build_demo_scene(), work / "demo-capture", n_views=24, width=64, height=48)
        return load_capture(folder, options), options
    return load_capture(data_root / case.data, options), options  # bench_train.check_args saw it exists


def case_config(case: Case, steps: int, *, budget_s: float):
    from ngfx.splatting.trainer import GaussianTrainConfig

    marks = tuple(m for m in case.marks_s if m < budget_s)
    return GaussianTrainConfig(method=case.method, steps=steps, n_init=case.n_init, background=case.background,
                               sh_degree=case.sh_degree, near_plane=case.near_plane,
                               n_eval_views=case.n_eval_views, checkpoint_every=0, log_every=100,
                               max_seconds=budget_s, eval_at_seconds=marks, time_stages=True)


def case_images(capture, options) -> dict:
    """The training and held-out images, read once for the calibration and the run."""
    from ngfx.scenes.captures import load_images

    return {split: load_images(capture, split, options) for split in ("train", "val") if capture.split(split)}


def calibrate(capture, case: Case, options, images, *, seconds: float = 10.0, warmup_steps: int = 20,
              limit_s: float = 120.0) -> float:
    """Steps per second of the case's training with densification off, over `seconds` after `warmup_steps`
    steps (which include the kernels' compile); within `limit_s` in all, else over the second half of the
    steps made (slow CPUs)."""
    from ngfx.splatting.trainer import train_gaussians

    cfg = dataclasses.replace(case_config(case, 10**6, budget_s=limit_s), densify=None, n_eval_views=1,
                              eval_at_seconds=(), time_stages=False)
    times = []

    def on_step(step, model):
        times.append(time.perf_counter())
        if len(times) > warmup_steps and times[-1] - times[warmup_steps] >= seconds:
            raise KeyboardInterrupt  # enough: the loop stops as on Ctrl-C

    with tempfile.TemporaryDirectory(prefix="ngfx-calibrate-") as folder:
        summary = train_gaussians(capture, cfg, folder, options=options, on_step=on_step, stream=io.StringIO(),
                                  images=images)
    timed = times[min(warmup_steps, len(times) // 2):]
    if summary.status not in ("finished", "interrupted") or len(timed) < 3:
        raise RuntimeError(f"calibration made only {len(times)} steps in {limit_s:g} s ({summary.status})")
    return (len(timed) - 1) / (timed[-1] - timed[0])


def planned_steps(case: Case, rate: float, budget_s: float) -> int:
    """Steps for the budget at `rate` steps/s (module docstring), at least 100."""
    return max(100, min(case.max_steps, math.floor(rate * budget_s * FILL / 100.0) * 100))
