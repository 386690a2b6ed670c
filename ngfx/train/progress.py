"""What a training run reports: a JSONL metrics log, a progress line, and seconds spent per stage.

- `JsonlLog` appends one JSON object per line and flushes each line, so a crash keeps everything written
  before it. It is the one file here not written atomically: an append-only log is read line by line, and a
  torn last line (power loss) is skipped by `read_jsonl`. Non-finite floats are written as the strings
  "nan", "inf" and "-inf", which strict JSON readers (jq, browsers) accept.
- `Progress` shows loss, PSNR, a count (e.g. Gaussians) and iterations/s: a tqdm bar when tqdm is installed
  and the stream is a terminal, else one plain line every `every` steps (logs, CI, pipes).
- `DurationEstimate` says once, after the first steps, how long the run will take, with the caller's
  hint (e.g. `--downscale`) when that is long.
- `StageTimer` accumulates wall-clock seconds per named stage; pass `sync` (e.g. torch.cuda.synchronize) so
  asynchronous GPU work is charged to the stage that launched it.
"""

import contextlib
import json
import math
import sys
import time
from pathlib import Path

__all__ = ["DurationEstimate", "JsonlLog", "Progress", "StageTimer", "device_sync", "format_duration",
           "read_jsonl"]


def _plain(value):
    """JSON-ready copy: 0-d tensors to numbers, non-finite floats to strings."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class JsonlLog:
    """Append-only JSON-lines file; use as a context manager or call close()."""

    def __init__(self, path):
        self.path = Path(path)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed by close())

    def write(self, record: dict) -> None:
        """Append `record` as one line and flush it to the OS."""
        self._file.write(json.dumps(_plain(record), allow_nan=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_jsonl(path) -> list[dict]:
    """Every complete line of a JSONL file as a dict (a torn last line is skipped)."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _tqdm_or_none(stream, force):
    if force is False or (force is None and not (hasattr(stream, "isatty") and stream.isatty())):
        return None
    try:
        import tqdm
    except ImportError:
        return None
    return tqdm.tqdm


class Progress:
    """Progress display for steps `initial`..`total`: `update(step, ...)` after each step, then `close()`.

    use_tqdm: None = when tqdm is installed and `stream` is a TTY; True / False force it (True needs tqdm)."""

    def __init__(self, total: int, *, initial: int = 0, every: int = 100, stream=None, use_tqdm=None,
                 clock=time.perf_counter):
        self.stream = sys.stderr if stream is None else stream
        self.total, self.every, self._clock = total, max(1, every), clock
        self._last_step, self._last_time = initial, clock()
        bar = _tqdm_or_none(self.stream, use_tqdm)
        self._bar = bar and bar(total=total, initial=initial, file=self.stream, dynamic_ncols=True, unit="it")

    def update(self, step: int, *, loss=None, psnr=None, count=None) -> None:
        """Record that `step` steps are done; shows the values every `every` steps (and at the last step)."""
        if self._bar is not None:
            self._bar.update(step - self._bar.n)
        if step % self.every and step != self.total:
            return
        now = self._clock()
        rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
        self._last_step, self._last_time = step, now
        fields = {name: fmt.format(float(value)) for name, value, fmt in
                  (("loss", loss, "{:.4g}"), ("psnr", psnr, "{:.2f}"), ("count", count, "{:,.0f}"))
                  if value is not None}
        if self._bar is not None:
            self._bar.set_postfix(fields, refresh=False)
        else:
            text = " ".join(f"{k} {v}" for k, v in fields.items())
            line = f"step {step}/{self.total} {text} {rate:.1f} it/s".replace("  ", " ")
            print(line, file=self.stream, flush=True)

    def message(self, text: str) -> None:
        """Print a line without breaking the bar."""
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def format_duration(seconds: float) -> str:
    """'45 s', '11 min', '2.5 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


class DurationEstimate:
    """The expected duration of a run, said once: `update(step, train_seconds)` after each step returns the
    line to print when it is due, else None.

    The first step is a warm-up (kernels compile then) and is not counted; the rate is measured over the
    next steps until `min_steps` of them took `min_seconds`, or `max_steps` of them are done, so a slow run
    hears about it within seconds. Runs whose remaining time is over `slow_seconds` get `slow_hint`
    appended (the trainer knows what would help, e.g. `--downscale 2` on a CPU)."""

    def __init__(self, total: int, *, max_seconds: float = 0.0, slow_hint: str | None = None,
                 slow_seconds: float = 300.0, min_steps: int = 3, min_seconds: float = 5.0, max_steps: int = 50):
        self.total, self.max_seconds, self.slow_hint, self.slow_seconds = total, max_seconds, slow_hint, slow_seconds
        self.min_steps, self.min_seconds, self.max_steps = min_steps, min_seconds, max_steps
        self._start: tuple[int, float] | None = None  # (step, train seconds) after the warm-up step
        self.done = False

    def update(self, step: int, train_seconds: float) -> str | None:
        if self.done:
            return None
        if self._start is None:
            self._start = (step, train_seconds)
            return None
        steps, seconds = step - self._start[0], train_seconds - self._start[1]
        if not (steps >= self.max_steps or (steps >= self.min_steps and seconds >= self.min_seconds)):
            return None
        self.done = True
        rate = steps / max(seconds, 1e-9)
        left = (self.total - step) / rate
        capped = bool(self.max_seconds) and train_seconds + left > self.max_seconds
        if capped:
            left = max(0.0, self.max_seconds - train_seconds)
        why = f"the {self.max_seconds:g} s budget" if capped else f"the remaining {self.total - step:,} steps"
        line = (f"expected: about {format_duration(left)} more for {why} at {rate:.3g} it/s "
                f"(measured over steps {self._start[0] + 1}-{step})")
        if left > self.slow_seconds and self.slow_hint:
            line += f"; {self.slow_hint}"
        return line


def device_sync(device):
    """A function waiting for `device`'s queued work (CUDA only), or None when there is none to wait for."""
    import torch

    device = torch.device(device)
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None


class StageTimer:
    """Seconds per named stage: `with timer("render"): ...`. Stages may repeat; a nested stage is also counted
    in its parent, so the shares in `summary` assume stages that do not nest."""

    def __init__(self, sync=None, clock=time.perf_counter):
        self.sync, self._clock = sync, clock
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str):
        if self.sync:
            self.sync()
        start = self._clock()
        try:
            yield
        finally:
            if self.sync:
                self.sync()
            self.seconds[stage] = self.seconds.get(stage, 0.0) + self._clock() - start
            self.calls[stage] = self.calls.get(stage, 0) + 1

    def summary(self) -> str:
        """One line: each stage's total seconds and share, largest first."""
        total = sum(self.seconds.values())
        if total <= 0:
            return "no stage timed"
        parts = [f"{name} {s:.2f} s ({100 * s / total:.0f}%)"
                 for name, s in sorted(self.seconds.items(), key=lambda kv: -kv[1])]
        return "time per stage: " + ", ".join(parts)
