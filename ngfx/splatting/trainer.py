"""Train 3D or 4D Gaussians on a multi-view capture: INRIA's recipe (REFERENCE 2.7), 4D as Yang / Duan (3.5-3.6).

Each step renders random training views (one for gs3d; `times_per_step` for gs4d, whose losses are averaged),
composites them on the background (rgb + (1 - alpha) bg, as the targets were composited), takes
(1 - w) L1 + w (1 - SSIM) (+ Duan's opacity entropy when weighted), steps Adam (one group per parameter
name, `ngfx.train.optim`), then densifies, prunes and resets opacity per `ngfx.splatting.strategy`, moving
the Adam moments with the rows. Step numbers given to the strategy are steps completed (INRIA's 1-based
iteration). The loop, checkpoints, bit-identical resume, Ctrl-C and non-finite losses are
`ngfx.train.loop.TrainLoop`'s.

Outputs in RUN: model.ply, scene.json (one "gaussians" node, a few capture cameras, the capture's up),
config.json, metrics.jsonl, checkpoints/. Duan's 4D velocity-consistency loss (consistency.py) uses K
neighbours refreshed every 100 steps and after each densification (checkpoints keep the ones in use). Not
implemented yet: random backgrounds, SelectiveAdam / absgrad / MCMC, per-view exposure.
"""

import dataclasses
import json
import math
import time
from pathlib import Path

import torch

from ngfx.atomic import write_atomic
from ngfx.scenes.captures import LoadOptions, load_images
from ngfx.splatting.consistency import VelocityConsistency
from ngfx.splatting.ply import save_gaussians
from ngfx.splatting.render import render_gaussians
from ngfx.splatting.strategy import DensifyState, add_grad_times, densify, init_state, reset_opacity
from ngfx.splatting.trainer_config import GaussianTrainConfig, TrainSummary, scaled_densify
from ngfx.splatting.trainer_init import camera_extent, init_gaussians
from ngfx.train.loop import LoopConfig, TrainLoop
from ngfx.train.losses import l1_ssim_loss, psnr, ssim
from ngfx.train.optim import (
    exponential_decay,
    extend_param,
    make_adam,
    replace_param,
    reset_state,
    step_schedules,
)
from ngfx.train.progress import device_sync

__all__ = ["GaussianTrainConfig", "TrainSummary", "train_gaussians"]


def _lrs(cfg: GaussianTrainConfig, model, extent: float) -> dict:
    rotation = "quats" if cfg.method == "gs3d" else "rotations"
    means = model.PARAMETER_NAMES[0]
    return {means: exponential_decay(cfg.lr_means * extent, cfg.lr_means_final * extent, cfg.steps),
            "log_scales": cfg.lr_scales, rotation: cfg.lr_rotation, "opacity_logits": cfg.lr_opacity,
            "sh_dc": cfg.lr_sh_dc, "sh_rest": cfg.lr_sh_rest}


def _entropy(opacities: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Duan's L_entropy: mean -o log o over visible Gaussians + 0.01 x the same over hidden ones."""
    o = opacities.clamp(1e-3, 1 - 1e-3)
    h = -o * torch.log(o)
    seen = h[visible].mean() if bool(visible.any()) else h.new_zeros(())
    hidden = h[~visible].mean() if bool((~visible).any()) else h.new_zeros(())
    return seen + 0.01 * hidden


class _Trainer:
    """One run's model, optimizer and statistics; TrainLoop drives `step`, `get_state`, `set_state`, `evaluate`."""

    def __init__(self, capture, cfg: GaussianTrainConfig, train, evals, background, device, on_step):
        self.cfg, self.train, self.evals, self.on_step = cfg, train, evals, on_step
        self.bg = torch.tensor(background, dtype=torch.float32, device=device)
        self.extent = camera_extent([f.camera for f in train])
        self.model = init_gaussians(capture, cfg, [f.camera for f in train], device=device)
        self.opt = make_adam(self.model.parameter_dict(), _lrs(cfg, self.model, self.extent))
        self.dcfg = scaled_densify(cfg)
        self.stats = init_state(self.model.num_gaussians, device=device)
        self.views = torch.Generator().manual_seed(cfg.seed + 1)
        self.split_rng = torch.Generator(device=device).manual_seed(cfg.seed + 2)
        self.consistency = (VelocityConsistency(cfg.consistency_k, seed=cfg.seed + 3)
                            if cfg.method == "gs4d" and cfg.consistency_weight > 0 else None)

    def _render(self, image, sh_degree, *, time=None, stats=None, stats_scale=1.0):
        camera = image.camera
        if self.cfg.near_plane > camera.near:
            camera = dataclasses.replace(camera, near=self.cfg.near_plane)
        out = render_gaussians(self.model, camera, time=time, sh_degree=sh_degree,
                               min_temporal_weight=self.cfg.min_temporal_weight, ops=self.cfg.ops, stats=stats,
                               stats_scale=stats_scale)
        return out, out.rgb + (1.0 - out.alpha[..., None]) * self.bg

    def step(self, step: int, timer) -> dict:
        if self.on_step is not None:
            self.on_step(step, self.model)  # before any change: it may raise KeyboardInterrupt to stop
        cfg, n_views = self.cfg, (self.cfg.times_per_step if self.cfg.method == "gs4d" else 1)
        collect = self.dcfg is not None and step + 1 < self.dcfg.stop
        with timer("render"):
            picks = torch.randint(len(self.train), (n_views,), generator=self.views).tolist()
            # The backward adds the densification statistics (each view's gradients scaled back up by n_views:
            # the loss averages the views, and the thresholds assume one view per loss, as INRIA).
            stats = self.stats.values if collect else None
            renders = [self._render(self.train[i], cfg.sh_degree_at(step), stats=stats, stats_scale=n_views)
                       for i in picks]
        with timer("loss"):
            loss = sum(l1_ssim_loss(rgb, self.train[i].rgb, ssim_weight=cfg.ssim_weight, ops=cfg.ops)
                       for i, (_, rgb) in zip(picks, renders)) / n_views
            if cfg.entropy_weight > 0:
                visible = torch.stack([(out.radii > 0).all(-1) for out, _ in renders]).any(0)
                loss = loss + cfg.entropy_weight * _entropy(self.model.opacities, visible)
            if self.consistency is not None:
                loss = loss + cfg.consistency_weight * self.consistency.loss(self.model, step)
            if not torch.isfinite(loss):
                return {"loss": loss.detach()}  # the loop stops; nothing has changed
        with timer("backward"):
            loss.backward()
        with timer("densify"):
            if collect and self.cfg.method == "gs4d" and self.model.means4.grad is not None:
                grad_t = self.model.means4.grad[:, 3]  # shared by the views (not separable per view)
                for out, _ in renders:
                    add_grad_times(self.stats, grad_t, out.radii)
        with timer("optimizer"):
            step_schedules(self.opt, step)
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
        with timer("densify"):
            if self.dcfg is not None:
                self._densify(step + 1)
        metrics = {"loss": loss.detach(), "count": self.model.num_gaussians}
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:  # the loop shows and logs it only then
            with torch.no_grad():
                metrics["psnr"] = psnr(renders[0][1], self.train[picks[0]].rgb)
        return metrics

    def _densify(self, done: int) -> None:
        model, plan = densify(self.model, self.stats, self.dcfg, done, self.extent, generator=self.split_rng)
        if plan is not None:
            k, params = int(plan.keep.shape[0]), {}
            for name, tensor in model.parameter_dict().items():
                replace_param(self.opt, name, tensor[:k], plan.keep)
                params[name] = extend_param(self.opt, name, tensor[k:])
            self.model = dataclasses.replace(model, **params)
            self.stats = init_state(self.model.num_gaussians, device=self.model.device)
            if self.consistency is not None:
                self.consistency.invalidate()  # rows moved: the cached neighbour lists are stale
        if self.dcfg.is_reset_step(done):
            model, mask = reset_opacity(self.model, self.dcfg)
            logits = replace_param(self.opt, "opacity_logits", model.opacity_logits)
            reset_state(self.opt, "opacity_logits", mask)
            self.model = dataclasses.replace(self.model, opacity_logits=logits)

    def get_state(self) -> dict:
        params = {k: v.detach().clone() for k, v in self.model.parameter_dict().items()}
        state = {"params": params, "optim": self.opt.state_dict(), "stats": dataclasses.asdict(self.stats)}
        if self.consistency is not None and self.consistency.neighbours is not None:
            state["consistency"] = {"neighbours": self.consistency.neighbours,
                                    "refreshed_at": self.consistency.refreshed_at}
        return state

    def set_state(self, state: dict) -> None:
        device = self.model.device
        params = {k: v.to(device).requires_grad_(True) for k, v in state["params"].items()}
        self.model = dataclasses.replace(self.model, **params)
        self.opt = make_adam(self.model.parameter_dict(), _lrs(self.cfg, self.model, self.extent))
        self.opt.load_state_dict(state["optim"])
        stats = {k: v.to(device) for k, v in state["stats"].items()}
        self.stats = DensifyState(**stats) if "values" in stats else DensifyState.of(**stats)  # older checkpoints
        if self.consistency is not None and "consistency" in state:  # the neighbours in use, not fresh ones
            self.consistency.neighbours = state["consistency"]["neighbours"].to(device)
            self.consistency.refreshed_at = int(state["consistency"]["refreshed_at"])

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Mean per-view PSNR (dB) and SSIM over the eval views. All SH bands are drawn: those not enabled
        yet are still zero (they got no gradient), so this equals drawing the enabled ones."""
        degree = self.cfg.sh_degree
        scores = [(float(psnr(rgb, image.rgb)), float(ssim(rgb, image.rgb)))
                  for image in self.evals for _, rgb in [self._render(image, degree)]]
        return {"psnr": sum(s[0] for s in scores) / len(scores), "ssim": sum(s[1] for s in scores) / len(scores)}


def _evenly(items: list, n: int) -> list:
    if len(items) <= n:
        return list(items)
    return [items[round(i * (len(items) - 1) / max(n - 1, 1))] for i in range(n)]


def _write_scene(run_dir: Path, capture, cameras, background, model) -> None:
    """RUN/scene.json: the trained model as one node, with cameras so `ngfx render RUN` has views."""
    scene = {"nodes": [{"name": "gaussians", "type": "gaussians", "path": "model.ply"}],
             "cameras": [c.to_dict() for c in cameras], "background": [float(v) for v in background],
             "up": [float(v) for v in capture.up]}
    if hasattr(model, "means4"):
        scene["time"] = {"duration_s": model.duration}
    write_atomic(run_dir / "scene.json", [(json.dumps(scene, indent=2) + "\n").encode()], what="the scene file")


def _slow_hint(arch: str, image_shape, downscale: int) -> str | None:
    """What to suggest when a run will take long: on the CPU, smaller images (each step is mostly per pixel)."""
    if arch != "cpu":
        return None
    height, width = int(image_shape[0]), int(image_shape[1])
    return (f"training runs on the CPU at {width}x{height}: --downscale {2 * downscale} trains on a quarter of the "
            f"pixels ({width // 2}x{height // 2}), --steps or --max-seconds shorten the run, a GPU is much faster")


def train_gaussians(capture, cfg: GaussianTrainConfig, run_dir, *, options: LoadOptions | None = None,
                    on_step=None, stream=None, images: dict | None = None) -> TrainSummary:
    """Train cfg.method on `capture` into `run_dir` (module docstring), resuming from its newest checkpoint.

    on_step(step, model): called before each step with the model after `step` completed steps, and with the
    final model when the run finishes (a live viewer); raising KeyboardInterrupt from it stops the run like
    Ctrl-C, with a checkpoint. stream: where progress goes (default stderr). Images are read once, as float32
    on `ngfx.kernels.runtime.device()`; images: {"train": [...], "val": [...]}, FrameImages already read
    with `options` (benchmarks reuse them).
    """
    from ngfx.kernels import runtime

    started, run_dir, options = time.perf_counter(), Path(run_dir), options or LoadOptions()
    device = runtime.device()
    if cfg.method == "gs4d" and not capture.is_dynamic:
        raise ValueError("method gs4d needs a dynamic capture (frames with times)")
    images = images or {}
    train = images.get("train") or load_images(capture, "train", options)
    train = [dataclasses.replace(im, rgb=im.rgb.to(device)) for im in train]
    val = images.get("val") or (load_images(capture, "val", options) if capture.split("val") else [])
    evals = [dataclasses.replace(im, rgb=im.rgb.to(device))
             for im in (_evenly(val, cfg.n_eval_views) if val else train[:cfg.n_eval_views])]
    if not train:
        raise ValueError("the capture has no training views")
    background = cfg.background or (options.background if capture.rgba else (0.0, 0.0, 0.0))
    trainer = _Trainer(capture, cfg, train, evals, background, device, on_step)
    psnr_init = trainer.evaluate()["psnr"]
    loop_cfg = LoopConfig(max_steps=cfg.steps, eval_every=cfg.eval_every, checkpoint_every=cfg.checkpoint_every,
                          log_every=cfg.log_every, max_seconds=cfg.max_seconds, eval_at_seconds=cfg.eval_at_seconds)
    last = {}

    def eval_fn(step):
        last.update(trainer.evaluate(), step=step)
        return {k: v for k, v in last.items() if k != "step"}

    loop = TrainLoop(loop_cfg, run_dir, step_fn=trainer.step, get_state=trainer.get_state,
                     set_state=trainer.set_state, eval_fn=eval_fn, config=cfg, stream=stream,
                     slow_hint=_slow_hint(runtime.arch(), train[0].rgb.shape, options.downscale),
                     sync=device_sync(device) if cfg.time_stages else None,
                     generators={"views": trainer.views, "split": trainer.split_rng,
                                 **({"knn": trainer.consistency.generator} if trainer.consistency else {})})
    result = loop.run()
    scores = list(result.evals)
    if result.status != "non_finite":
        if last.get("step") != result.step:
            scores.append({"step": result.step, "train_seconds": math.nan, **eval_fn(result.step)})
        save_gaussians(run_dir / "model.ply", trainer.model)
        cameras = [dataclasses.replace(c, near=max(c.near, cfg.near_plane))  # as trained
                   for c in _evenly([im.camera for im in evals], cfg.n_scene_cameras)]
        _write_scene(run_dir, capture, cameras, background, trainer.model)
        if on_step is not None and result.status == "finished":
            on_step(result.step, trainer.model)  # the final model
    return TrainSummary(steps=result.step, seconds=time.perf_counter() - started,
                        psnr_val=last.get("psnr", math.nan), ssim_val=last.get("ssim", math.nan),
                        psnr_init=psnr_init, n_gaussians=trainer.model.num_gaussians,
                        stage_seconds=dict(result.seconds), status=result.status, evals=scores)
