"""The training loop every representation shares: steps, evaluation, checkpoints, resume, Ctrl-C, divergence.

The trainer keeps its own model and optimizers and supplies callbacks (nerfacc style):

| callback               | called                                 | returns                                 |
|------------------------|----------------------------------------|-----------------------------------------|
| `step_fn(step, timer)` | each step, step = 0 .. max_steps - 1   | dict: "loss" (needed), "psnr", "count"  |
| `get_state()`          | when a checkpoint is written           | dict of tensors, state_dicts, numbers   |
| `set_state(state)`     | once, when resuming                    | -                                       |
| `eval_fn(step)`        | each `eval_every` steps and at the end | dict of scalar metrics, logged as eval  |

Checkpoints are `<run_dir>/checkpoints/step-XXXXXXXX.pt` (XXXXXXXX = steps completed) and hold the trainer
state, the RNG states (torch, Python `random`, the named `generators`) and the config, so resuming from the
latest one continues bit for bit as if never stopped. Metrics go to `<run_dir>/metrics.jsonl`; a resumed run
appends after a {"event": "resume"} line, so steps between the last checkpoint and a crash appear twice
(readers keep the last).

Stopping: Ctrl-C is deferred to the end of the current step, then a checkpoint is written (a second Ctrl-C
quits at once without one). A KeyboardInterrupt raised inside step_fn also writes one, as of the last
completed step: raise it before the step changes any state. A non-finite loss stops the run without writing
anything, so the last good checkpoint stays the latest; the result says which it is. The loss is read every
step (one device sync), as otherwise a diverged state could be checkpointed before anyone looked.
"""

import contextlib
import dataclasses
import math
import re
import signal
import sys
import threading
import time
from pathlib import Path

from ngfx.errors import InputError
from ngfx.train.checkpoint import CheckpointWriter, load_checkpoint, restore_rng_state, rng_state
from ngfx.train.config import config_to_dict, save_config
from ngfx.train.progress import DurationEstimate, JsonlLog, Progress, StageTimer

__all__ = ["LoopConfig", "TrainLoop", "TrainResult", "checkpoint_path", "latest_checkpoint"]

_CHECKPOINT_NAME = re.compile(r"step-(\d{8})\.pt")


@dataclasses.dataclass(frozen=True, kw_only=True)
class LoopConfig:
    """When to evaluate, checkpoint, log and resume."""

    max_steps: int = 30_000
    """Steps in total; a resumed run continues up to this count."""
    eval_every: int = 0
    """Run the eval callback every this many steps; 0 = only after the last step."""
    checkpoint_every: int = 1000
    """Write a checkpoint every this many steps (and always at the end or on Ctrl-C); 0 = only then."""
    keep_checkpoints: int = 2
    """How many of the newest checkpoints to keep in the run folder (at least 1)."""
    log_every: int = 100
    """Append a metrics line and refresh the progress display every this many steps."""
    resume: bool = True
    """Continue from the newest checkpoint in the run folder when there is one."""
    max_seconds: float = 0.0
    """Also stop (status "finished") once this process has trained this many seconds; 0 = no limit. Training
    time is wall time minus evaluation and checkpoint writing."""
    eval_at_seconds: tuple[float, ...] = ()
    """Also evaluate when the training time first passes each of these marks (benchmarks: PSNR over time)."""

    def __post_init__(self):
        for name in ("max_steps", "eval_every", "checkpoint_every", "log_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_seconds < 0 or any(not mark > 0 for mark in self.eval_at_seconds):
            raise ValueError(f"need max_seconds >= 0 and eval_at_seconds > 0, got {self.max_seconds}, "
                             f"{self.eval_at_seconds}")
        if self.keep_checkpoints < 1 or self.log_every < 1:
            raise ValueError(f"keep_checkpoints and log_every must be >= 1, got {self.keep_checkpoints}, "
                             f"{self.log_every}")


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """How a run ended: status "finished", "interrupted" or "non_finite"; `step` steps completed; `evals` the
    evaluations of this process as dicts with "step", "train_seconds" and the eval callback's metrics."""

    status: str
    step: int
    checkpoint: Path | None
    message: str
    seconds: dict[str, float]
    evals: list = dataclasses.field(default_factory=list)


def checkpoint_path(run_dir, step: int) -> Path:
    """Where the checkpoint after `step` completed steps lives."""
    return Path(run_dir) / "checkpoints" / f"step-{step:08d}.pt"


def _checkpoints(run_dir) -> list[tuple[int, Path]]:
    folder = Path(run_dir) / "checkpoints"
    matches = (_CHECKPOINT_NAME.fullmatch(p.name) for p in folder.glob("step-*.pt"))
    found = [(int(m.group(1)), folder / m.group(0)) for m in matches if m]
    return sorted(found)


def latest_checkpoint(run_dir) -> Path | None:
    """The checkpoint with the most completed steps in `run_dir`, or None."""
    found = _checkpoints(run_dir)
    return found[-1][1] if found else None


class _ForcedStop(KeyboardInterrupt):
    """A second Ctrl-C: quit at once, writing nothing."""


@contextlib.contextmanager
def _deferred_sigint(on_first):
    """Turn the first SIGINT into a flag (checked between steps); the second raises _ForcedStop."""
    flag = {"stop": False}
    if threading.current_thread() is not threading.main_thread():  # signal handlers live on the main thread
        yield flag
        return

    def handler(signum, frame):
        if flag["stop"]:
            raise _ForcedStop
        flag["stop"] = True
        on_first()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


class TrainLoop:
    """Drives `step_fn` up to cfg.max_steps in `run_dir` (see the module docstring for the callbacks).

    generators: named torch.Generator objects the step draws from (minibatches), saved and restored with the
    checkpoints. config: the trainer's config dataclass, saved as run_dir/config.json and in every checkpoint.
    sync: waits for the device (`ngfx.train.progress.device_sync`) so stage times are true on GPUs.
    slow_hint: what would make a long run faster, said with the duration estimate when the run is long
    (`ngfx.train.progress.DurationEstimate`)."""

    def __init__(self, cfg: LoopConfig, run_dir, *, step_fn, get_state, set_state, eval_fn=None,
                 generators=None, config=None, stream=None, sync=None, use_tqdm=None, slow_hint=None):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.step_fn, self.get_state, self.set_state, self.eval_fn = step_fn, get_state, set_state, eval_fn
        self.generators, self.config = dict(generators or {}), config
        self.stream = sys.stderr if stream is None else stream
        self.sync, self.use_tqdm, self.slow_hint = sync, use_tqdm, slow_hint

    def _save(self, run: "_Run") -> Path:
        """Snapshot the state now and write it in the background (`CheckpointWriter`; run() waits for it)."""
        step, path = run.step, checkpoint_path(self.run_dir, run.step)

        def prune():
            for _, old in _checkpoints(self.run_dir)[:-self.cfg.keep_checkpoints]:
                old.unlink(missing_ok=True)

        with run.timer("checkpoint"):
            config = config_to_dict(self.config) if self.config is not None else None
            run.writer.submit(path, {"step": step, "state": self.get_state(), "rng": rng_state(self.generators),
                                     "config": config}, then=prune)
        run.checkpoint, run.saved_step = path, step
        return path

    def _start(self) -> tuple[int, Path | None]:
        """Prepare the run folder, resume from its newest checkpoint if any; returns (step, checkpoint)."""
        try:
            (self.run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"cannot create the run folder ({e.strerror})", file=self.run_dir) from None
        latest = latest_checkpoint(self.run_dir)
        if latest is not None and not self.cfg.resume:
            raise InputError("the run folder already holds checkpoints", file=self.run_dir,
                             fix="resume it, or train into a new folder")
        if self.config is not None:
            save_config(self.run_dir / "config.json", self.config)
        if latest is None:
            return 0, None
        saved = load_checkpoint(latest)
        self.set_state(saved["state"])
        restore_rng_state(saved["rng"], self.generators)  # last: set_state may draw random numbers
        return int(saved["step"]), latest

    def run(self) -> TrainResult:
        """Train until max_steps, Ctrl-C or a non-finite loss, and say which (none of these raises)."""
        step, checkpoint = self._start()
        run = _Run(step=step, checkpoint=checkpoint, saved_step=step if checkpoint else None, log_step=step,
                   timer=StageTimer(self.sync, clock=lambda: time.perf_counter()))
        progress = Progress(self.cfg.max_steps, initial=step, every=self.cfg.log_every, stream=self.stream,
                            use_tqdm=self.use_tqdm)

        def notice():
            progress.message("Ctrl-C: stopping after this step (press again to quit without saving)")

        with (JsonlLog(self.run_dir / "metrics.jsonl") as log, contextlib.closing(progress),
              _deferred_sigint(notice) as flag):
            if checkpoint:
                log.write({"event": "resume", "step": step, "checkpoint": str(checkpoint)})
                progress.message(f"resumed from {checkpoint} at step {step}")
            try:
                status, message = self._steps(run, flag, log, progress)
            except _ForcedStop:
                raise
            except KeyboardInterrupt:
                status, message = "interrupted", ""
            try:
                message = self._finish(run, status, log, progress) or message
            finally:
                with run.timer("checkpoint"):
                    run.writer.wait()  # every checkpoint is on disk before run() returns (or raises)
            log.write({"event": status, "step": run.step, "seconds": run.timer.seconds})
        self.stream.write(f"{message}\n{run.timer.summary()}\n")
        return TrainResult(status, run.step, run.checkpoint, message, dict(run.timer.seconds), run.evals)

    def _steps(self, run: "_Run", flag: dict, log: JsonlLog, progress: Progress) -> tuple[str, str]:
        """The step loop; returns (status, message) where the message is set only for a non-finite loss."""
        marks = sorted(self.cfg.eval_at_seconds)
        estimate = DurationEstimate(self.cfg.max_steps, max_seconds=self.cfg.max_seconds, slow_hint=self.slow_hint)
        while run.step < self.cfg.max_steps and not flag["stop"]:
            metrics = self.step_fn(run.step, run.timer)
            loss = float(metrics["loss"])
            if not math.isfinite(loss):
                log.write({"event": "non_finite", "step": run.step + 1, "loss": loss})
                return "non_finite", self._diverged(loss, run)
            run.step += 1
            step = run.step
            progress.update(step, loss=loss, psnr=metrics.get("psnr"), count=metrics.get("count"))
            if step % self.cfg.log_every == 0:
                now = time.perf_counter()
                rate = (step - run.log_step) / max(now - run.log_time, 1e-9)
                log.write({"step": step, **metrics, "loss": loss, "its": rate, "elapsed": now - run.started})
                run.log_time, run.log_step = now, step
            trained, due = run.train_seconds(), False
            if (line := estimate.update(step, trained)) is not None:
                progress.message(line)
                log.write({"event": "estimate", "step": step, "message": line})
            while marks and trained >= marks[0]:
                marks.pop(0)
                due = True
            if self.eval_fn and (due or (self.cfg.eval_every and step % self.cfg.eval_every == 0)):
                self._evaluate(run, log, progress)
            if self.cfg.checkpoint_every and step % self.cfg.checkpoint_every == 0:
                self._save(run)
            if self.cfg.max_seconds and trained >= self.cfg.max_seconds:
                progress.message(f"time budget of {self.cfg.max_seconds:g} s reached at step {step}")
                return "finished", ""
        return ("finished" if run.step >= self.cfg.max_steps else "interrupted"), ""

    def _finish(self, run: "_Run", status: str, log: JsonlLog, progress: Progress) -> str | None:
        """Final eval and checkpoint (never after a non-finite loss); the closing message, if not set yet."""
        if status == "non_finite":
            return None
        if status == "finished" and self.eval_fn and run.evaluated != run.step:
            self._evaluate(run, log, progress)
        if run.saved_step != run.step:
            self._save(run)
        if status == "interrupted":
            return f"interrupted after step {run.step}; checkpoint {run.checkpoint} (resume: run again)"
        return f"finished {run.step} steps; checkpoint {run.checkpoint}"

    def _evaluate(self, run: "_Run", log: JsonlLog, progress: Progress) -> None:
        trained = run.train_seconds()
        with run.timer("eval"):
            results = self.eval_fn(run.step)
        log.write({"step": run.step, "eval": results, "train_seconds": trained})
        run.evals.append({"step": run.step, "train_seconds": trained, **results})
        shown = ", ".join(f"{k} {float(v):.4g}" for k, v in results.items())
        progress.message(f"eval at step {run.step}: {shown}")
        run.evaluated = run.step

    @staticmethod
    def _diverged(loss: float, run: "_Run") -> str:
        kept = "no checkpoint was written before it"
        if run.checkpoint:
            kept = f"the last good checkpoint is {run.checkpoint} (step {run.saved_step})"
        return (f"stopped: the loss is {loss} at step {run.step + 1}; nothing was saved after it and {kept}; "
                f"lower the learning rates or check the inputs")


@dataclasses.dataclass
class _Run:
    """One run()'s bookkeeping, passed explicitly (never stored on the loop)."""

    step: int
    checkpoint: Path | None
    saved_step: int | None
    log_step: int
    timer: StageTimer
    evaluated: int | None = None
    started: float = dataclasses.field(default_factory=lambda: time.perf_counter())
    log_time: float = dataclasses.field(default_factory=lambda: time.perf_counter())
    evals: list = dataclasses.field(default_factory=list)
    writer: CheckpointWriter = dataclasses.field(default_factory=CheckpointWriter)

    def train_seconds(self) -> float:
        """Wall seconds of this process's run() so far, less evaluation and checkpoint writing."""
        spent = self.timer.seconds
        return time.perf_counter() - self.started - spent.get("eval", 0.0) - spent.get("checkpoint", 0.0)
