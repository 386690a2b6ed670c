"""`ngfx` entry point: subcommand dispatch, shared flags, and the one-line error contract.

Bad input raises ngfx.errors.InputError anywhere below; here it becomes `ngfx: error: <message>` on
stderr with exit status 2 and no traceback (unless --debug).
"""

import argparse
import importlib
import os
import sys
import warnings

from ngfx import __version__
from ngfx.errors import InputError

__all__ = ["main", "run", "build_parser"]

# name -> (module, help); each module has add_arguments(parser) and main(args) -> int | None
SUBCOMMANDS = {
    "demo": ("ngfx.cli.demo", "render the built-in demo scene to a turntable video (the main job)"),
    "view": ("ngfx.cli.view", "open a scene, mesh or run in the desktop viewer"),
    "render": ("ngfx.cli.render", "render a scene, mesh or run headless to video, PNG or frames"),
    "train": ("ngfx.cli.train", "train a scene from a multi-view capture"),
    "export": ("ngfx.cli.export", "bake a scene's meshes at one time into a single mesh file"),
    "bench": ("ngfx.cli.bench", "run a benchmark suite and write a table and JSON"),
    "info": ("ngfx.cli.info", "versions, Taichi backends and GPU of this machine"),
}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", default=os.environ.get("NGFX_ARCH"), choices=["cuda", "vulkan", "cpu"],
                        help="Taichi backend (default: $NGFX_ARCH, else CUDA, hardware Vulkan, CPU)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks; Taichi debug mode")
    parser.add_argument("--verbose", "-v", action="store_true", help="print backend start-up and timings")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ngfx", description="ngfx: neural-graphics rendering with Taichi kernels")
    parser.add_argument("--version", action="version", version=f"ngfx {__version__}")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        sub = subs.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(sub)
        _common(sub)
        sub.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; returns the exit status."""
    args = build_parser().parse_args(argv)
    if not args.debug:  # warnings as one line each, like errors
        warnings.formatwarning = lambda message, *_args, **_kw: f"ngfx: warning: {message}\n"
    try:
        return int(importlib.import_module(args._module).main(args) or 0)
    except InputError as err:
        if args.debug:
            raise
        print(f"ngfx: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ngfx: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
