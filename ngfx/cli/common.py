"""Flag parsing shared by the rendering subcommands (render, view, demo, export)."""

import math

from ngfx.errors import InputError

__all__ = ["parse_rgb", "parse_up", "add_scene_argument", "add_size_arguments", "load_scene_argument"]


# 0-255 integers are read as such only when one of them is at least this: '2,0,0' is far likelier a slip on
# the [0, 1] scale than the near-black (2/255, 0, 0), so it is refused instead of being read silently.
_MIN_BYTE_SCALE = 16


def parse_rgb(text: str | None, flag: str = "--background"):
    """'R,G,B' in [0, 1], or 0-255 integers with one of them >= 16 -> a float triple; None stays None."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3:
        raise InputError(f"{text!r} is not three comma-separated numbers", field=flag, fix="write e.g. 0.1,0.1,0.1")
    if any(v > 1.0 for v in values):  # 0-255 only when written as whole numbers
        if not all(v.is_integer() for v in values):
            raise InputError(f"{text!r} mixes scales", field=flag, fix="use three numbers in [0, 1] or three 0-255 integers")
        if max(values) < _MIN_BYTE_SCALE:
            dark = ",".join(f"{v / 255:.3g}" for v in values)
            raise InputError(f"{text!r} is ambiguous: above 1 means the 0-255 scale, where it is near black ({dark})",
                             field=flag, fix="write colours as three numbers in [0, 1] (e.g. 1,0,0 for red), or "
                             "0-255 integers such as 255,0,0")
        values = [v / 255.0 for v in values]
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise InputError(f"{text!r} has components outside [0, 1] (or 0-255)", field=flag)
    return tuple(values)


def add_scene_argument(parser) -> None:
    parser.add_argument("scene", metavar="SCENE",
                        help="a scene .json, a mesh file (.obj .ply .glb .gltf .stl), a 3DGS / 4D Gaussian .ply, "
                             "a folder with scene.json, or 'demo' for the built-in scene")
    parser.add_argument("--up", default=None,
                        help="world up axis X,Y,Z for orbits and the viewer (default: the scene's; -y for a "
                             "Gaussian .ply, as COLMAP-based captures are)")


def parse_up(text: str | None):
    """'X,Y,Z' -> a non-zero float triple; None stays None."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not any(values) or not all(map(math.isfinite, values)):
        raise InputError(f"{text!r} is not a non-zero X,Y,Z vector", field="--up", fix="write e.g. 0,1,0")
    return values


def load_scene_argument(args):
    """The Scene that SCENE names, with --up applied."""
    from ngfx.render.sources import load_source

    scene = load_source(args.scene)
    up = parse_up(getattr(args, "up", None))
    if up is not None:
        scene.up = up
    return scene


def add_size_arguments(parser, *, width=None, height=None) -> None:
    parser.add_argument("--width", type=int, default=width, help="image width in pixels")
    parser.add_argument("--height", type=int, default=height, help="image height in pixels")


def check_size(width, height) -> None:
    for name, value in (("--width", width), ("--height", height)):
        if value is not None and value < 1:
            raise InputError(f"must be a positive number of pixels, got {value}", field=name, fix="e.g. 640")
