"""`ngfx view SCENE`: the desktop viewer over the render core (same SCENE forms as `ngfx render`)."""

from ngfx.atomic import check_output_folder
from ngfx.cli.common import add_scene_argument, add_size_arguments, check_size, load_scene_argument, parse_rgb
from ngfx.cli.runtime_flags import start_runtime

__all__ = ["add_arguments", "main", "initial_camera"]


def add_arguments(parser) -> None:
    add_scene_argument(parser)
    add_size_arguments(parser)  # default: the scene camera's aspect within 1280x720
    parser.add_argument("--time", type=float, default=0.0, help="start time in seconds")
    parser.add_argument("--background", default=None, help="R,G,B in [0,1] (default: the scene's)")
    parser.add_argument("--screenshot", default=None, help="save the final view to this PNG and exit")
    parser.add_argument("--frames", type=int, default=None, help="with --screenshot: frames to run first")


def initial_camera(scene, width: int, height: int):
    """The scene's first camera at the window size, else the first frame of the default orbit."""
    from ngfx.render.paths import orbit_for_bounds

    if scene.cameras:
        return scene.cameras[0].fitted(width, height)
    bounds = scene.bounds(0.0)
    if bounds is None:
        from ngfx.errors import InputError

        raise InputError("the scene has nothing visible to frame", fix="check the nodes' visibility and files")
    return orbit_for_bounds(bounds[0], bounds[1], frames=1, up=scene.up, width=width, height=height)[0]


def _view_image_run(args) -> int:
    """Pan and deep zoom over an image run's field (`ngfx.viewer.image_app`)."""
    from ngfx.render.image_field import ImageFieldRenderer
    from ngfx.viewer.image_app import run_image_viewer

    background = parse_rgb(args.background)
    start_runtime(args)
    renderer = ImageFieldRenderer(args.scene, **({} if background is None else {"background": background}))
    window = (args.width or 1280, args.height or 720)
    run_image_viewer(renderer.display, renderer.size, window_size=window, title=f"ngfx - {args.scene}",
                     screenshot=args.screenshot, frames=args.frames)
    return 0


def main(args) -> int:
    from ngfx.render.image_field import is_image_run

    check_size(args.width, args.height)
    if args.screenshot is not None:
        check_output_folder(args.screenshot, field="--screenshot")
    if is_image_run(args.scene):
        return _view_image_run(args)
    from ngfx.render.core import SceneRenderer
    from ngfx.render.headless import DEFAULT_SIZE, default_size
    from ngfx.viewer import run_viewer

    background = parse_rgb(args.background)
    scene = load_scene_argument(args)
    width, height = default_size(scene, args.width, args.height, within=DEFAULT_SIZE)
    start_runtime(args)
    renderer = SceneRenderer(scene)
    camera = initial_camera(scene, width, height)
    bounds = scene.bounds(args.time)
    center = None if bounds is None else 0.5 * (bounds[0] + bounds[1])
    run_viewer(lambda cam, t: renderer.render(cam, t, background=background), camera,
               duration_s=scene.duration_s, up=scene.up, center=center, title=f"ngfx - {args.scene}",
               screenshot=args.screenshot, frames=args.frames, start_time=args.time)
    return 0
