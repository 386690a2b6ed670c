"""`ngfx demo [--out DIR]`: the main job, end to end on the built-in demo scene.

1. Builds the demo scene in code and renders a turntable video of it (one loop of its animation), a poster
   frame and the scene file into DIR (default ./ngfx-demo/). `--no-train` stops here (the quick run).
2. Renders a synthetic multi-view capture of it with the render core (`ngfx.render.synthetic_capture`):
   DIR/capture/ (Blender layout, the scene at t = 0, every 8th view held out) and DIR/capture4d/ (D-NeRF
   layout: fewer views, each at several times, for `ngfx train DIR/capture4d --method gs4d`).
3. Trains 3D Gaussians on DIR/capture into DIR/gs3d/ (a normal run folder) and prints the held-out PSNR
   of the trained and of the untrained model.
4. Renders an orbit of the trained model to DIR/gaussians.mp4 through the same path as `ngfx render RUN`.

Sizes (flags override them): on the CPU 32 views at 80x60, 5,000 random initial Gaussians, 500 steps, no
densification (about a minute of training on two cores); on CUDA 64 views at 200x150, 50,000 Gaussians,
3,000 steps with INRIA's densification compressed to the run.
"""

import contextlib
import os
import shutil
import time
from pathlib import Path

from ngfx.cli.common import add_size_arguments, check_size
from ngfx.cli.runtime_flags import Stopwatch, start_runtime
from ngfx.errors import InputError

__all__ = ["add_arguments", "main", "subject_bounds"]

# per backend: views, capture width, height, steps, initial Gaussians, densify (views x times for 4D: 12 x 6)
_SIZES = {"cpu": (32, 80, 60, 500, 5_000, False), "cuda": (64, 200, 150, 3_000, 50_000, True)}


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="ngfx-demo", help="output folder (default ./ngfx-demo/)")
    parser.add_argument("--frames", type=int, default=96, help="video frames: one loop of the animation")
    add_size_arguments(parser, width=960, height=540)
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--no-train", action="store_true", help="only the turntable (no capture, no training)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default 500 on CPU, 3000 on CUDA)")
    parser.add_argument("--views", type=int, default=None, help="views in the synthetic capture (default 32 / 64)")
    parser.add_argument("--capture-size", default=None, metavar="WxH",
                        help="capture image size (default 80x60 on CPU, 200x150 on CUDA)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def subject_bounds(scene):
    """Bounds of everything but the ground over the animation, so the turntable frames the objects."""
    import numpy as np

    from ngfx.scenes.transforms import transform_bounds

    boxes = [transform_bounds(T, *node.payload.bounds())
             for t in np.linspace(0.0, scene.duration_s, 9)
             for path, node, T in scene.drawables(float(t)) if path != "/ground"]
    return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)


def _check_flags(args) -> None:
    if args.steps is not None and args.steps < 1:
        raise InputError(f"must be >= 1, got {args.steps}", field="--steps", fix="e.g. --steps 300")
    if args.views is not None and args.views < 2:
        raise InputError(f"must be >= 2, got {args.views}", field="--views", fix="e.g. --views 32")
    if args.capture_size is not None:
        try:
            w, h = (int(v) for v in args.capture_size.lower().split("x"))
        except ValueError:
            w = h = 0
        if w < 8 or h < 8:
            raise InputError(f"{args.capture_size!r} is not WxH of at least 8x8", field="--capture-size",
                             fix="e.g. --capture-size 80x60")


def _fresh(folder: Path, marker: str) -> Path:
    """Empty a folder a previous demo wrote (recognised by `marker`), so a rerun starts over."""
    if (folder / marker).exists():
        shutil.rmtree(folder)
    return folder


def _train(args, scene, renderer, arch: str) -> None:
    from ngfx.render.core import SceneRenderer
    from ngfx.render.headless import plan_frames, render_frames
    from ngfx.render.sources import load_source
    from ngfx.render.synthetic_capture import render_capture
    from ngfx.scenes.captures import load_capture
    from ngfx.splatting.trainer import GaussianTrainConfig, train_gaussians

    views, cw, ch, steps, n_init, densify = _SIZES["cuda" if arch == "cuda" else "cpu"]
    views = args.views or views
    if args.capture_size:
        cw, ch = (int(v) for v in args.capture_size.lower().split("x"))
    steps = args.steps or steps
    out, bounds = Path(args.out), subject_bounds(scene)
    t0 = time.perf_counter()
    capture_dir = render_capture(scene, _fresh(out / "capture", "transforms_train.json"), n_views=views,
                                 width=cw, height=ch, bounds=bounds, renderer=renderer)
    times = [scene.duration_s * k / 6 for k in range(6)]
    capture4d = render_capture(scene, _fresh(out / "capture4d", "transforms_train.json"),
                               n_views=max(2, views * 3 // 8), width=cw, height=ch, times=times, bounds=bounds,
                               renderer=renderer)
    print(f"ngfx demo: rendered {views} views at {cw}x{ch} into {capture_dir} and {max(2, views * 3 // 8)} "
          f"views x {len(times)} times into {capture4d} in {time.perf_counter() - t0:.1f} s", flush=True)
    capture = load_capture(capture_dir)
    extra = {} if densify else {"densify": None}
    cfg = GaussianTrainConfig(method="gs3d", steps=steps, n_init=n_init, sh_degree=1,
                              sh_degree_interval=max(1, steps // 2), lr_means=1e-3 if not densify else 1.6e-4,
                              background=tuple(float(v) for v in scene.background), checkpoint_every=0,
                              log_every=max(1, min(100, steps // 5)), **extra)
    run_dir = _fresh(out / "gs3d", "config.json")
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(open(os.devnull, "w")) if args.no_progress else None
        summary = train_gaussians(capture, cfg, run_dir, stream=stream)
    print(f"ngfx demo: trained gs3d for {summary.steps} steps in {summary.seconds:.1f} s "
          f"({len(capture.split('train'))} training views, {summary.n_gaussians:,} Gaussians); "
          f"held-out PSNR {summary.psnr_val:.2f} dB (untrained {summary.psnr_init:.2f} dB), "
          f"SSIM {summary.ssim_val:.3f}", flush=True)
    if summary.status != "finished":
        raise InputError(f"training stopped ({summary.status})", file=run_dir, fix="rerun with --steps smaller")
    t1 = time.perf_counter()
    trained = load_source(str(run_dir))
    frames = min(args.frames, 48)
    plan = plan_frames(trained, trajectory="orbit", frames=frames, width=2 * cw, height=2 * ch, fps=args.fps,
                       bounds=bounds)
    video = out / "gaussians.mp4"
    render_frames(SceneRenderer(trained), plan, str(video), progress=not args.no_progress)
    print(f"ngfx demo: wrote {video} ({frames} frames, {2 * cw}x{2 * ch}) in {time.perf_counter() - t1:.1f} s")
    print(f"  the run: {run_dir} (ngfx view {run_dir}); 4D: ngfx train {capture4d} --method gs4d")


def main(args) -> int:
    from ngfx.render.core import SceneRenderer
    from ngfx.render.demo_scene import build_demo_scene
    from ngfx.render.headless import FramePlan, plan_frames, render_frames
    from ngfx.scenes.scene_file import save_scene

    check_size(args.width, args.height)
    _check_flags(args)
    t0 = time.perf_counter()
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise InputError("is a file, not a folder", file=args.out, fix="give --out a folder name")
    os.makedirs(args.out, exist_ok=True)
    scene = build_demo_scene()
    scene.load_payloads()
    plan = plan_frames(scene, trajectory="orbit", frames=args.frames, width=args.width, height=args.height, fps=args.fps,
                       bounds=subject_bounds(scene))
    arch = start_runtime(args)
    renderer = SceneRenderer(scene)
    video = os.path.join(args.out, "turntable.mp4")
    poster = os.path.join(args.out, "poster.png")
    scene_file = os.path.join(args.out, "scene.json")
    render_frames(renderer, plan, video, progress=not args.no_progress, on_frame=Stopwatch(args.verbose).frame_done)
    still = FramePlan([scene.cameras[0].fitted(args.width, args.height)], [1.0], plan.fps)
    render_frames(renderer, still, poster, progress=False)
    save_scene(scene, scene_file)
    print(f"ngfx demo: wrote {video} ({len(plan.cameras)} frames, {args.width}x{args.height}), {poster} and "
          f"{scene_file} in {time.perf_counter() - t0:.0f} s", flush=True)
    if not args.no_train:
        _train(args, scene, renderer, str(arch))
    print(f"ngfx demo: done in {time.perf_counter() - t0:.0f} s; look around: ngfx view {scene_file}")
    return 0
