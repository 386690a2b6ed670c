"""`ngfx demo [--out DIR]`: the main job. Builds the demo scene in code and renders a turntable video of
it (one loop of its animation), a poster frame and the scene file into DIR (default ./ngfx-demo/)."""

import os
import time

from ngfx.cli.common import add_size_arguments, check_size
from ngfx.cli.runtime_flags import Stopwatch, start_runtime

__all__ = ["add_arguments", "main"]


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="ngfx-demo", help="output folder (default ./ngfx-demo/)")
    parser.add_argument("--frames", type=int, default=96, help="video frames: one loop of the animation")
    add_size_arguments(parser, width=960, height=540)
    parser.add_argument("--fps", type=float, default=24.0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def subject_bounds(scene):
    """Bounds of everything but the ground over the animation, so the turntable frames the objects."""
    import numpy as np

    from ngfx.scenes.transforms import transform_bounds

    boxes = [transform_bounds(T, *node.payload.bounds())
             for t in np.linspace(0.0, scene.duration_s, 9)
             for path, node, T in scene.drawables(float(t)) if path != "/ground"]
    return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)


def main(args) -> int:
    from ngfx.render.core import SceneRenderer
    from ngfx.render.demo_scene import build_demo_scene
    from ngfx.render.headless import FramePlan, plan_frames, render_frames
    from ngfx.scenes.scene_file import save_scene

    check_size(args.width, args.height)
    t0 = time.perf_counter()
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        from ngfx.errors import InputError

        raise InputError("is a file, not a folder", file=args.out, fix="give --out a folder name")
    os.makedirs(args.out, exist_ok=True)
    scene = build_demo_scene()
    scene.load_payloads()
    plan = plan_frames(scene, trajectory="orbit", frames=args.frames, width=args.width, height=args.height, fps=args.fps,
                       bounds=subject_bounds(scene))
    start_runtime(args)
    renderer = SceneRenderer(scene)
    video = os.path.join(args.out, "turntable.mp4")
    poster = os.path.join(args.out, "poster.png")
    scene_file = os.path.join(args.out, "scene.json")
    render_frames(renderer, plan, video, progress=not args.no_progress, on_frame=Stopwatch(args.verbose).frame_done)
    still = FramePlan([scene.cameras[0].fitted(args.width, args.height)], [1.0], plan.fps)
    render_frames(renderer, still, poster, progress=False)
    save_scene(scene, scene_file)
    print(f"ngfx demo: wrote {video} ({len(plan.cameras)} frames, {args.width}x{args.height}), {poster} and "
          f"{scene_file} in {time.perf_counter() - t0:.0f} s")
    print(f"  look around: ngfx view {scene_file}")
    return 0
