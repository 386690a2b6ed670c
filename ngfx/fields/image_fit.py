"""Fit a neural field to one image: instant-ngp's gigapixel image approximation (REFERENCE 4.7).

The field (`NeuralField`: 2D hash grid -> fused MLP) maps uv in [0, 1]^2 to the image's C channels (uv
convention: `ngfx.fields.image_sampling`, u = (x + 0.5) / W, v = (y + 0.5) / H, v down). Each step draws
`batch_size` uniform random uv, takes the bilinearly interpolated pixel values there as targets, and
minimises the mean squared error (L2) with `SparseAdam` (table rows not looked up keep their Adam state).
Linear (EXR) images are trained on their linear values; RUN/image.json records it so viewers tone-map
(`to_display`: sRGB encode + clamp). PSNR (peak 1) is measured at pixel centres, exactly where the stored
pixels are.

The loop, checkpoints (field, Adam state, sample generator), bit-identical resume, Ctrl-C and non-finite
losses are `ngfx.train.loop.TrainLoop`'s. Outputs in RUN: config.json, image.json, metrics.jsonl,
checkpoints/, and field.pt (the trained field alone, for viewers: `load_image_run`).
"""

import io
import math
import time
from pathlib import Path

import torch

from ngfx.errors import InputError
from ngfx.fields.field import NeuralField
from ngfx.fields.image_fit_config import (
    IMAGE_RUN_FORMAT,
    ImageFitConfig,
    ImageFitSummary,
    ImageRunMeta,
    field_configs,
)
from ngfx.fields.image_sampling import ImageTargets, pixel_uv, render_image_field, to_display
from ngfx.scenes.image_file import LoadedImage
from ngfx.train.checkpoint import load_checkpoint, save_checkpoint
from ngfx.train.config import load_config, save_config
from ngfx.train.loop import LoopConfig, TrainLoop, latest_checkpoint
from ngfx.train.sparse_adam import SparseAdam

__all__ = ["ImageFitConfig", "ImageFitSummary", "ImageRunMeta", "fit_image", "load_image_run",
           "render_image_field", "to_display"]

_EVAL_CHUNK = 1 << 18


class _ImageTrainer:
    """One run's field, optimizer, targets and sample generator; TrainLoop drives `step` and the state."""

    def __init__(self, image: LoadedImage, cfg: ImageFitConfig, device):
        self.cfg, self.device = cfg, device
        in_unit_range = bool(image.pixels.min() >= 0.0 and image.pixels.max() <= 1.0)
        grid_cfg, mlp_cfg = field_configs(cfg, image.width, image.height, image.channels, in_unit_range)
        self.field = NeuralField(grid_cfg, mlp_cfg, dtype=cfg.dtype, seed=cfg.seed, device=device, ops=cfg.ops)
        self.targets = ImageTargets(image, device)
        self.scale = cfg.effective_loss_scale()
        table, mlp = self.field.param_groups()
        # the L2 term joins the scaled gradient, so it is scaled alike to keep its weight against the loss
        self.opt = SparseAdam([table, {**mlp, "weight_decay": cfg.weight_decay * self.scale}], lr=cfg.lr)
        self.samples = torch.Generator(device=device).manual_seed(cfg.seed + 2)
        self.eval_index = self._eval_pixels(image.width * image.height)

    def _eval_pixels(self, n_pixels: int) -> torch.Tensor:
        """Flat indices of the pixels PSNR is measured on: all, or a fixed seeded subset (with repeats)."""
        if self.cfg.eval_pixels == 0 or n_pixels <= self.cfg.eval_pixels:
            return torch.arange(n_pixels, device=self.device)
        g = torch.Generator().manual_seed(self.cfg.seed + 3)
        return torch.randint(n_pixels, (self.cfg.eval_pixels,), generator=g).to(self.device)

    def step(self, step: int, timer) -> dict:
        with timer("sample"):
            uv = torch.rand((self.cfg.batch_size, 2), generator=self.samples, device=self.device)
            target = self.targets.sample(uv)
        with timer("forward"):
            loss = torch.mean((self.field(uv) - target) ** 2)
            if not torch.isfinite(loss):
                return {"loss": loss.detach()}  # the loop stops; nothing has changed
        with timer("backward"):
            (loss * self.scale).backward()
        with timer("optimizer"):
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
        metrics = {"loss": loss.detach()}
        if (step + 1) % self.cfg.log_every == 0 or step + 1 == self.cfg.steps:  # shown and logged only then
            metrics["psnr"] = -10.0 * torch.log10(loss.detach())  # the batch's PSNR (peak 1)
        return metrics

    def image_shape(self) -> dict:
        t = self.targets
        return {"width": t.width, "height": t.height, "channels": t.channels}

    def get_state(self) -> dict:
        return {"field": self.field.saved_state(), "optim": self.opt.state_dict(), "image": self.image_shape()}

    def set_state(self, state: dict) -> None:
        if state.get("image") != self.image_shape() or state["field"]["field"] != self.field.config_dict():
            raise InputError("the run folder holds checkpoints of a different image or field config",
                             fix="train into a new folder, or resume with the same image and settings")
        self.field.load_state_dict(state["field"]["params"])
        self.opt.load_state_dict(state["optim"])

    @torch.no_grad()
    def evaluate(self) -> dict:
        """PSNR (dB, peak 1) of the field at the eval pixels' centres."""
        t, total = self.targets, torch.zeros((), dtype=torch.float64, device=self.device)
        for start in range(0, self.eval_index.shape[0], _EVAL_CHUNK):
            index = self.eval_index[start:start + _EVAL_CHUNK]
            pred = self.field(pixel_uv(index, t.width, t.height))
            total += ((pred - t.at_pixels(index)) ** 2).sum(dtype=torch.float64)
        mse = float(total) / (self.eval_index.shape[0] * t.channels)
        return {"psnr": 10.0 * math.log10(1.0 / mse) if mse > 0 else math.inf}


def _slow_hint(arch: str | None) -> str | None:
    if arch != "cpu":
        return None
    return ("training runs on the CPU: a smaller batch_size or log2_table_size, fewer steps or a max_seconds "
            "budget shorten the run; a GPU is much faster")


def _check_resumable(run_dir: Path, meta: ImageRunMeta, cfg: ImageFitConfig) -> None:
    """InputError, before anything in run_dir changes, when it holds checkpoints of another image or of
    another field (grid, MLP or dtype; other steps, rates or batch sizes may resume)."""
    if not _resumes(run_dir):
        return
    old_meta = load_config(run_dir / "image.json", ImageRunMeta)
    shape = (meta.width, meta.height, meta.channels, meta.is_linear)
    old_shape = (old_meta.width, old_meta.height, old_meta.channels, old_meta.is_linear)
    if shape != old_shape:
        raise InputError(f"holds checkpoints of a different image ({old_meta.width}x{old_meta.height}, "
                         f"{old_meta.channels} channels, linear {old_meta.is_linear}; this one is {meta.width}x"
                         f"{meta.height}, {meta.channels}, linear {meta.is_linear})", file=run_dir,
                         fix="train into a new folder, or resume with the same image")
    old = load_config(run_dir / "config.json", ImageFitConfig)
    keys = ("n_levels", "n_features", "log2_table_size", "base_resolution", "finest_resolution", "width",
            "n_hidden_layers", "output_activation", "dtype")
    changed = [k for k in keys if getattr(old, k) != getattr(cfg, k)]
    if changed:
        raise InputError(f"holds checkpoints of a field trained with other settings ({', '.join(changed)})",
                         file=run_dir, fix="train into a new folder, or resume with the same settings")


def _resumes(run_dir: Path) -> bool:
    """Whether fit_image would resume in run_dir: it has checkpoints and the run's image.json / config.json."""
    return (latest_checkpoint(run_dir) is not None and (run_dir / "image.json").is_file()
            and (run_dir / "config.json").is_file())


def fit_image(image: LoadedImage, cfg: ImageFitConfig, run_dir, *, progress: bool = True,
              stream=None) -> ImageFitSummary:
    """Train a field on `image` into `run_dir` (module docstring), resuming from its newest checkpoint.
    progress: show the progress line (loss, PSNR, it/s) on `stream` (default stderr); False keeps quiet.
    InputError when run_dir cannot be created or holds checkpoints of another image or config."""
    from ngfx.kernels import runtime

    started, run_dir = time.perf_counter(), Path(run_dir)
    meta = ImageRunMeta(width=image.width, height=image.height, channels=image.channels,
                        is_linear=image.is_linear, source=str(image.path or ""), source_bits=image.source_bits)
    _check_resumable(run_dir, meta, cfg)
    device = runtime.device() if cfg.ops == "kernels" else torch.device("cpu")
    trainer = _ImageTrainer(image, cfg, device)
    psnr_init = trainer.evaluate()["psnr"]
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create the run folder ({e.strerror})", file=run_dir) from None
    save_config(run_dir / "image.json", meta)
    loop_cfg = LoopConfig(max_steps=cfg.steps, eval_every=cfg.eval_every, checkpoint_every=cfg.checkpoint_every,
                          log_every=cfg.log_every, max_seconds=cfg.max_seconds)
    last = {}

    def eval_fn(step):
        last.update(trainer.evaluate(), step=step)
        return {"psnr": last["psnr"]}

    loop = TrainLoop(loop_cfg, run_dir, step_fn=trainer.step, get_state=trainer.get_state,
                     set_state=trainer.set_state, eval_fn=eval_fn, config=cfg,
                     generators={"samples": trainer.samples}, stream=stream if progress else io.StringIO(),
                     use_tqdm=None if progress else False, slow_hint=_slow_hint(runtime.arch()))
    result = loop.run()
    scores = list(result.evals)
    if result.status != "non_finite":
        if last.get("step") != result.step:
            scores.append({"step": result.step, "train_seconds": math.nan, **eval_fn(result.step)})
        save_checkpoint(run_dir / "field.pt", trainer.field.saved_state())
    return ImageFitSummary(steps=result.step, seconds=time.perf_counter() - started,
                           psnr=last.get("psnr", math.nan), psnr_init=psnr_init, status=result.status,
                           stage_seconds=dict(result.seconds), run_dir=run_dir, evals=scores)


def load_image_run(run_dir, *, device=None, ops: str = "kernels") -> tuple[NeuralField, ImageRunMeta]:
    """The trained field of an image run (RUN/field.pt, else the newest checkpoint of a run still going or
    interrupted) and its ImageRunMeta. device None: `ngfx.kernels.runtime.device()` for ops "kernels".
    InputError when run_dir is not an image run or holds no field yet."""
    run_dir = Path(run_dir)
    if not (run_dir / "image.json").is_file():
        raise InputError("is not an image run folder (no image.json)", file=run_dir,
                         fix="pass the folder `fit_image` (ngfx train IMAGE --method image) trained into")
    meta = load_config(run_dir / "image.json", ImageRunMeta)
    if meta.format != IMAGE_RUN_FORMAT:
        raise InputError(f"has format {meta.format!r}, expected {IMAGE_RUN_FORMAT!r}", file=run_dir / "image.json")
    path = run_dir / "field.pt"
    if path.is_file():
        saved = load_checkpoint(path)
    elif (path := latest_checkpoint(run_dir)) is not None:
        saved = load_checkpoint(path)["state"]["field"]
    else:
        raise InputError("holds no trained field yet (no field.pt, no checkpoint)", file=run_dir,
                         fix="wait for the first checkpoint or train it")
    return NeuralField.from_saved_state(saved, device=device, ops=ops, file=path), meta
