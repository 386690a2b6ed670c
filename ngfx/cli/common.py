"""Flag parsing shared by the rendering subcommands (render, view, demo, export)."""

from ngfx.errors import InputError

__all__ = ["parse_rgb", "add_scene_argument", "add_size_arguments"]


def parse_rgb(text: str | None, flag: str = "--background"):
    """'R,G,B' in [0, 1] (or 0-255 integers) -> a float triple; None stays None."""
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
        values = [v / 255.0 for v in values]
    if any(not 0.0 <= v <= 1.0 for v in values):
        raise InputError(f"{text!r} has components outside [0, 1] (or 0-255)", field=flag)
    return tuple(values)


def add_scene_argument(parser) -> None:
    parser.add_argument("scene", metavar="SCENE",
                        help="a scene .json, a mesh file (.obj .ply .glb .gltf .stl), a folder with scene.json, "
                             "or 'demo' for the built-in scene")


def add_size_arguments(parser, *, width=None, height=None) -> None:
    parser.add_argument("--width", type=int, default=width, help="image width in pixels")
    parser.add_argument("--height", type=int, default=height, help="image height in pixels")


def check_size(width, height) -> None:
    for name, value in (("--width", width), ("--height", height)):
        if value is not None and value < 1:
            raise InputError(f"must be a positive number of pixels, got {value}", field=name, fix="e.g. 640")
