"""`ngfx render SCENE --out OUT`: headless frames of a scene to .mp4, .png or a folder of PNGs."""

from ngfx.atomic import check_output_folder
from ngfx.cli.common import add_scene_argument, add_size_arguments, check_size, load_scene_argument, parse_rgb
from ngfx.cli.runtime_flags import Stopwatch, start_runtime

__all__ = ["add_arguments", "main"]


def add_arguments(parser) -> None:
    add_scene_argument(parser)
    path = parser.add_mutually_exclusive_group()
    path.add_argument("--camera-path", help="a nerfstudio camera_path.json (render_time drives scene time)")
    path.add_argument("--orbit", action="store_true",
                      help="turntable around the scene's bounds (the default when the scene has no camera)")
    path.add_argument("--spiral", action="store_true", help="an orbit that rises and falls")
    parser.add_argument("--frames", type=int, default=None, help="number of frames (default 60; 1 for .png)")
    add_size_arguments(parser)
    parser.add_argument("--fps", type=float, default=None, help="video frame rate (default 30, or the path's)")
    parser.add_argument("--time", type=float, default=None, help="scene time in seconds for every frame")
    parser.add_argument("--background", default=None, help="R,G,B in [0,1] (default: the scene's)")
    parser.add_argument("--depth", action="store_true", help="also write depth (16-bit PNG, see depth.json)")
    parser.add_argument("--out", required=True, help="OUT.mp4, OUT.png, or a folder for numbered PNGs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--region", default=None,
                        help="image runs: the uv rectangle u0,v0,u1,v1 to render (default 0,0,1,1, the whole image; "
                             "u right, v down)")


def main(args) -> int:
    from ngfx.render.image_field import is_image_run

    if is_image_run(args.scene):
        return _render_image_run(args)
    if args.region is not None:
        from ngfx.errors import InputError

        raise InputError("applies to image runs (ngfx train IMAGE --method image)", field="--region",
                         fix="drop it, or render an image run")
    from ngfx.render.core import SceneRenderer
    from ngfx.render.headless import plan_frames, render_frames

    check_size(args.width, args.height)
    check_output_folder(args.out)
    background = parse_rgb(args.background)
    scene = load_scene_argument(args)
    frames = args.frames if args.frames is not None else (1 if args.out.lower().endswith(".png") else None)
    trajectory = "spiral" if args.spiral else ("orbit" if args.orbit else "auto")
    plan = plan_frames(scene, camera_path=args.camera_path, trajectory=trajectory,
                       frames=frames, width=args.width, height=args.height, fps=args.fps, time=args.time)
    start_runtime(args)
    watch = Stopwatch(args.verbose)
    render_frames(SceneRenderer(scene), plan, args.out, background=background, depth=args.depth,
                  progress=not args.no_progress, on_frame=watch.frame_done)
    print(f"wrote {args.out} ({len(plan.cameras)} frame{'s' * (len(plan.cameras) != 1)}, "
          f"{plan.cameras[0].width}x{plan.cameras[0].height})")
    return 0


def _render_image_run(args) -> int:
    """One still of an image run's field at --width x --height (default: the image's size) over --region."""
    from ngfx.render.image_field import render_image_run

    check_size(args.width, args.height)
    check_output_folder(args.out)
    start_runtime(args)
    width, height = render_image_run(args.scene, args.out, width=args.width, height=args.height,
                                     region=args.region, background=parse_rgb(args.background))
    print(f"wrote {args.out} (1 frame, {width}x{height})")
    return 0
