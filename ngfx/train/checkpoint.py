"""Training checkpoints: tensors, optimizer state_dicts, numbers, strings and RNG states in one file.

Files are written with `torch.save` through `ngfx.atomic.write_atomic`, so a crash or Ctrl-C mid-write leaves
the previous file whole (`CheckpointWriter` does it on a background thread from a CPU snapshot), and read with `torch.load(weights_only=True)`: the unpickler accepts only tensors and
plain containers, so a file cannot run code when loaded (a crafted pickle is refused with an InputError).
Hence the state may hold only tensors, dicts, lists, tuples, str, int, float, bool and None: store configs as
dicts (`ngfx.train.config.config_to_dict`), never as dataclass objects.

`rng_state` / `restore_rng_state` capture what a bit-identical resume needs: torch's global CPU generator, the
CUDA generators when CUDA is up, Python's `random`, and any explicit torch.Generator objects by name.
"""

import io
import pickle
import random
import re
import threading
from pathlib import Path

import torch

from ngfx.atomic import write_atomic
from ngfx.errors import InputError

__all__ = ["CHECKPOINT_FORMAT", "CheckpointWriter", "load_checkpoint", "restore_rng_state", "rng_state",
           "save_checkpoint", "snapshot"]

CHECKPOINT_FORMAT = "ngfx-checkpoint-1"


def save_checkpoint(path, state: dict) -> None:
    """Write `state` to `path` atomically (see the module docstring for what it may contain)."""
    if not isinstance(state, dict):
        raise TypeError(f"a checkpoint state is a dict, got {type(state).__name__}")
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "state": state}, buffer)
    write_atomic(path, [buffer.getbuffer()], what="the checkpoint")


def snapshot(state):
    """A copy of `state` whose tensors are fresh CPU tensors (copied from the device, or cloned), so training
    may go on changing the originals while the copy is written."""
    if isinstance(state, torch.Tensor):
        return state.detach().to("cpu", copy=True)
    if isinstance(state, dict):
        return {k: snapshot(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(snapshot(v) for v in state)
    return state


class CheckpointWriter:
    """Writes checkpoints on one background thread, so serialising and writing (most of a checkpoint's time)
    overlap training; at most one write is in flight. `submit` takes a `snapshot` synchronously, then returns;
    `wait` blocks until the last write is on disk and re-raises its error, if any (also raised by the next
    `submit`). Files are still written atomically: a crash mid-write leaves the previous checkpoint whole."""

    def __init__(self):
        self._thread, self._error = None, None

    def submit(self, path, state: dict, then=None) -> None:
        """Write `state` to `path` in the background; `then()` runs on the thread after a successful write."""
        self.wait()
        copy = snapshot(state)

        def work():
            try:
                save_checkpoint(path, copy)
                if then is not None:
                    then()
            except BaseException as e:  # noqa: BLE001 - handed to the training thread by wait()
                self._error = e

        self._thread = threading.Thread(target=work, name="ngfx-checkpoint", daemon=False)
        self._thread.start()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def load_checkpoint(path, *, map_location="cpu") -> dict:
    """The state dict saved by `save_checkpoint`, tensors moved to `map_location`. A missing, truncated or
    foreign file, or one holding anything but tensors and plain containers, raises InputError."""
    path = Path(path)
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise InputError("no such file", file=path) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a checkpoint file", file=path) from None
    except Exception as e:  # noqa: BLE001 - a damaged file fails anywhere in the unpickler (KeyError, EOF...)
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", str(e))
        if isinstance(e, pickle.UnpicklingError) and refused:  # weights_only stopped before running it
            raise InputError(f"refused: the file holds a Python object ({refused.group(1)}), not only "
                             "tensors and plain data", file=path,
                             fix="only load checkpoints written by ngfx from a source you trust") from None
        raise InputError(f"is not a readable checkpoint ({_first_line(e)})", file=path,
                         fix="the file is damaged or truncated; resume from an earlier checkpoint") from None
    ours = isinstance(data, dict) and data.get("format") == CHECKPOINT_FORMAT
    if not (ours and isinstance(data.get("state"), dict)):
        raise InputError("is not an ngfx checkpoint (no format marker)", file=path,
                         fix=f"expected a file written by ngfx.train.save_checkpoint ({CHECKPOINT_FORMAT})")
    return data["state"]


def _first_line(e: BaseException) -> str:
    """A short reason: the OS's words, else the exception type and its message's first line."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()  # torch's messages carry ANSI bold
    return f"{type(e).__name__}: {text.splitlines()[0][:200]}" if text else type(e).__name__


def rng_state(generators: dict[str, torch.Generator] | None = None) -> dict:
    """The states of torch's global generators, Python's `random` and the named `generators`."""
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
        "generators": {name: g.get_state() for name, g in (generators or {}).items()},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict, generators: dict[str, torch.Generator] | None = None) -> None:
    """Put back the generator states captured by `rng_state`; a named generator missing from `state` is an
    InputError (the checkpoint was written by a different trainer)."""
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss_next"]))
    for name, g in (generators or {}).items():
        if name not in state["generators"]:
            raise InputError(f"the checkpoint has no state for the random generator {name!r}",
                             fix="resume with the trainer that wrote it, or start a fresh run folder")
        g.set_state(state["generators"][name])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
