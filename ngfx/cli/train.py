"""`ngfx train DATA`: training from multi-view captures arrives with Gaussian training (issue 4).

Until then the command says so plainly and exits with status 2, instead of pretending to train.
"""

from ngfx.errors import InputError

__all__ = ["add_arguments", "main"]


def add_arguments(parser) -> None:
    parser.add_argument("data", metavar="DATA", nargs="?", help="a capture folder (transforms.json, COLMAP, ...)")
    parser.add_argument("--method", default="gs3d", choices=["gs3d", "gs4d"])
    parser.add_argument("--out", default=None)


def main(args) -> int:
    raise InputError("training is not available in this version of ngfx yet",
                     fix="use `ngfx render` or `ngfx view` on meshes and scene files for now")
