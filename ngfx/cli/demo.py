"""`ngfx demo [--out DIR]`: the main job, end to end on the built-in demo scene.

1. Builds the demo scene in code and renders a turntable video of it (one loop of its animation), a poster
   frame and the scene file into DIR (default ./ngfx-demo/). `--no-train` stops here (the quick run).
2. Renders a synthetic multi-view capture of it with the render core (`ngfx.render.synthetic_capture`):
   DIR/capture/ (Blender layout, the scene at t = 0, every 8th view held out) and DIR/capture4d/ (D-NeRF
   layout: fewer views, each at several times).
3. Trains 3D Gaussians on DIR/capture into DIR/gs3d/ (a normal run folder), prints the held-out PSNR of the
   trained and of the untrained model, and renders an orbit of the trained model to DIR/gaussians.mp4
   through the same path as `ngfx render RUN`.
4. The same for 4D Gaussians on DIR/capture4d, starting from the trained 3D ones: DIR/gs4d/, its held-out
   PSNR, and DIR/gaussians4d.mp4 (a fixed camera while time runs through the model's span).

Steps 2-4 and their sizes are `ngfx.cli.demo_train`'s: on the CPU 32 views at 80x60, 500 gs3d and 300 gs4d
steps, gs3d from 5,000 random initial Gaussians, gs4d from gs3d's plus 1,500 random, without densification
(about 50 s of training on two cores); on CUDA 64 views at 200x150, 50,000 Gaussians, 3,000 / 1,800 steps
with INRIA's densification compressed to the run.
"""

import os
import time

from ngfx.atomic import check_output_folder
from ngfx.cli.common import add_size_arguments, check_size
from ngfx.cli.runtime_flags import Stopwatch, start_runtime
from ngfx.errors import InputError

__all__ = ["add_arguments", "main", "subject_bounds"]


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="ngfx-demo", help="output folder (default ./ngfx-demo/)")
    parser.add_argument("--frames", type=int, default=96, help="video frames: one loop of the animation")
    add_size_arguments(parser, width=960, height=540)
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--no-train", action="store_true", help="only the turntable (no capture, no training)")
    parser.add_argument("--steps", type=int, default=None,
                        help="gs3d training steps (default 500 on CPU, 3000 on CUDA); gs4d gets 3/5 as many")
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
    check_output_folder(args.out)
    os.makedirs(args.out, exist_ok=True)  # the demo folder itself, in an existing folder
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
        from ngfx.cli.demo_train import train_demo

        train_demo(args, scene, renderer, str(arch), subject_bounds(scene))
    print(f"ngfx demo: done in {time.perf_counter() - t0:.0f} s; look around: ngfx view {scene_file}")
    return 0
