"""`ngfx train DATA --view`: the viewer on the model while it trains (like nerfstudio's viewer).

Threads. pyglet must stay on the main thread, so training runs in a background thread and the viewer loop
(`ngfx.viewer.run_viewer`) runs on the main one. The trainer's `on_step(step, model)` hook, called between
steps, publishes a detached copy of the model to a lock-protected `SnapshotSlot` (at most every
`PUBLISH_EVERY_S`, and always for the final model); the viewer's render function draws whatever snapshot is
current, at the viewer's time (the slider spans the capture's training time range, for gs4d).

Taichi is not thread-safe, so only one thread may call it at a time: `TaichiTurns` is one lock that the
training thread holds from its start to its end (model init, steps, evaluations, checkpoints, PLY export)
except inside `on_step`, where it hands the lock to the viewer when (and only when) the viewer is waiting to
render, and takes it back once that render is done. The viewer takes the lock around each render. So a
render waits for at most one training step (or one evaluation), and a step waits for at most one render;
a plain lock alone could starve either side (Python's locks are not fair), hence the "viewer waiting" flag.
Taichi's LLVM backends also insist that the first kernel launch after ti.init (which builds the field struct
module) runs on the main thread: `materialize_taichi` launches an empty kernel there before training starts.

The training thread talks to the viewer only through its thread-safe `ngfx.viewer.ViewerHandle`: after each
publish it sets the window title (step and Gaussian count) and calls `request_redraw()`. A redraw counts as a
view change for the viewer, so while training the view renders at the adaptive "moving" resolution and
sharpens to full size once snapshots stop.

Stopping. Closing the window (or Ctrl-C in the viewer) sets a stop flag; the next `on_step` raises
KeyboardInterrupt, which the training loop turns into a checkpoint and status "interrupted". When training
ends first, the viewer stays open on the final model until closed (after an error, or with `screenshot`, the
training thread closes it through the handle). With `screenshot`, the viewer runs on the scripted 1/30 s
clock (time paused at the start) until training has ended, then saves the final model's frame and exits:
`ngfx train DATA --view --steps 30 --screenshot s.png`.
"""

import dataclasses
import threading
import time as wallclock

import torch

__all__ = ["PUBLISH_EVERY_S", "SnapshotSlot", "TaichiTurns", "materialize_taichi", "train_with_viewer"]

PUBLISH_EVERY_S = 0.2
_MAX_WINDOW_SIDE = 1280
_SCRIPTED_IDLE_S = 1.0 / 30.0  # a scripted (--screenshot) viewer sleeps this long per frame while training


class TaichiTurns:
    """One Taichi user at a time: the training thread holds the lock and lends it to a waiting viewer."""

    def __init__(self):
        self._lock = threading.Lock()
        self._viewer_waiting = threading.Event()

    def trainer_acquire(self) -> None:
        self._lock.acquire()

    def trainer_release(self) -> None:
        self._lock.release()

    def trainer_yield(self, timeout_s: float = 1.0) -> None:
        """Between steps (the caller holds the lock): let a waiting viewer render once, then take the lock back."""
        if not self._viewer_waiting.is_set():
            return
        self._lock.release()
        deadline = wallclock.monotonic() + timeout_s
        while self._viewer_waiting.is_set() and wallclock.monotonic() < deadline:
            wallclock.sleep(0.0005)  # until the viewer holds the lock (it clears the flag then)
        self._lock.acquire()

    def viewer_call(self, fn, *args):
        """fn(*args) while holding the lock (waits for the current training step to finish)."""
        self._viewer_waiting.set()
        self._lock.acquire()
        self._viewer_waiting.clear()
        try:
            return fn(*args)
        finally:
            self._lock.release()


@dataclasses.dataclass
class _Snapshot:
    version: int = 0
    step: int = 0
    model: object = None
    final: bool = False


class SnapshotSlot:
    """The latest published model copy (thread-safe): `publish` from training, `get` from the viewer."""

    def __init__(self):
        self._lock = threading.Lock()
        self._current = _Snapshot()

    def publish(self, step: int, model, *, final: bool = False) -> None:
        with torch.no_grad():
            copy = dataclasses.replace(model, **{k: v.detach().clone() for k, v in model.parameter_dict().items()})
        with self._lock:
            self._current = _Snapshot(self._current.version + 1, int(step), copy, final)

    def get(self) -> _Snapshot:
        with self._lock:
            return self._current


def materialize_taichi() -> None:
    """Run an empty kernel on this (the main) thread: Taichi's LLVM backends build their field struct module
    at the first kernel launch and assert that this happens on the thread that called ti.init."""
    import taichi as ti

    @ti.kernel
    def _noop():
        pass

    _noop()


def _window_camera(capture):
    """The first training view's camera, shrunk so the window's long side is at most _MAX_WINDOW_SIDE."""
    frames = capture.split("train") or capture.frames
    camera = frames[0].camera
    scale = min(1.0, _MAX_WINDOW_SIDE / max(camera.width, camera.height))
    if scale < 1.0:
        camera = camera.fitted(max(1, round(camera.width * scale)), max(1, round(camera.height * scale)))
    return camera


def train_with_viewer(capture, cfg, run_dir, *, options, screenshot: str | None = None, stream=None):
    """Train in a background thread while the viewer shows the latest model; returns the TrainSummary.

    Closing the viewer stops training (status "interrupted", with a checkpoint). Errors of the training
    thread are raised here after the viewer has closed; None when the window closed before training began.
    """
    from ngfx.scenes.renderable import RenderOutput
    from ngfx.splatting.render import render_gaussians
    from ngfx.splatting.trainer import train_gaussians
    from ngfx.splatting.trainer_init import scene_box, time_span
    from ngfx.viewer import ViewerHandle, run_viewer

    turns, slot, stop, viewer = TaichiTurns(), SnapshotSlot(), threading.Event(), ViewerHandle()
    done = threading.Event()
    outcome: dict = {}
    train_cams = [f.camera for f in capture.split("train")] or [f.camera for f in capture.frames]
    dynamic = cfg.method == "gs4d"
    t0, t1 = time_span(train_cams) if dynamic else (0.0, 0.0)
    background = cfg.background or (options.background if capture.rgba else (0.0, 0.0, 0.0))
    last_publish = [-1e9]

    def on_step(step: int, model) -> None:
        final = step >= cfg.steps  # the call after the run finished (never raise there)
        if stop.is_set() and not final:
            raise KeyboardInterrupt("the viewer was closed")
        now = wallclock.monotonic()
        if final or now - last_publish[0] >= PUBLISH_EVERY_S:
            slot.publish(step, model, final=final)
            last_publish[0] = now
            viewer.set_title(f"ngfx train - step {step}/{cfg.steps} - {model.num_gaussians:,} Gaussians"
                             + (" - done" if final else ""))
            viewer.request_redraw()  # after the publish: the redraw renders this snapshot (or a newer one)
        turns.trainer_yield()

    def train() -> None:
        turns.trainer_acquire()
        try:
            outcome["summary"] = train_gaussians(capture, cfg, run_dir, options=options, on_step=on_step,
                                                 stream=stream)
        except BaseException as e:  # noqa: BLE001 - re-raised on the main thread
            outcome["error"] = e
        finally:
            turns.trainer_release()
            done.set()
            if screenshot is not None or "error" in outcome:
                viewer.close()  # the screenshot (saved at exit) shows the final model: published above

    bg = torch.tensor(background, dtype=torch.float32)

    def draw(model, camera, t):
        with torch.no_grad():
            out = render_gaussians(model, camera, time=(t0 + t) if dynamic else None)
        alpha = out.alpha.float()
        rgb = out.rgb.float() + (1.0 - alpha[..., None]) * bg.to(out.rgb.device)
        depth = torch.where(out.median_depth > 0, out.median_depth, out.depth).float()
        depth = torch.where(alpha > 0, depth, torch.full_like(depth, float("inf")))
        return RenderOutput(rgb=rgb, depth=depth, alpha=alpha)  # rgb already over the background

    def render_fn(camera, t):
        snap = slot.get()
        if snap.model is None:  # still initialising: the background
            h, w = camera.height, camera.width
            return RenderOutput(rgb=bg.expand(h, w, 3).clone(), depth=torch.full((h, w), float("inf")),
                                alpha=torch.zeros(h, w))
        return turns.viewer_call(draw, snap.model, camera, t)

    thread = threading.Thread(target=train, name="ngfx-train", daemon=True)

    def on_frame(index, controller, state) -> None:
        if index == 0:  # the window is open: start training (no display -> InputError before any training)
            thread.start()
            if screenshot is not None:
                state.playing = False  # scripted: a reproducible frame at the start time
        if screenshot is not None and not done.is_set():
            wallclock.sleep(_SCRIPTED_IDLE_S)  # no busy loop against the training thread

    materialize_taichi()
    try:
        box = scene_box(capture, train_cams)
        run_viewer(render_fn, _window_camera(capture), duration_s=(t1 - t0) if dynamic else 0.0, up=capture.up,
                   center=0.5 * (box[0] + box[1]), title=f"ngfx train - {capture.root.name}",
                   screenshot=screenshot, frames=None if screenshot is None else 2**62, on_frame=on_frame,
                   handle=viewer)
    except KeyboardInterrupt:
        pass  # Ctrl-C in the viewer: stop training like a closed window
    finally:
        if thread.ident is not None and not done.is_set():
            stop.set()
            print("ngfx train: viewer closed, stopping training (a checkpoint is written)...", flush=True)
        if thread.ident is not None:
            thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("summary")

