"""`ngfx train DATA --method gs3d|gs4d|image`: train Gaussians on a multi-view capture, or fit an image
(`ngfx.cli.train_image`; the default method for a PNG, JPEG or EXR file), into a run folder.

DATA is any capture `ngfx.scenes.captures.load_capture` detects (instant-ngp/nerfstudio transforms.json,
Blender, D-NeRF, COLMAP, LLFF, Panoptic). RUN (--out, default `runs/<data name>-<method>`) receives
config.json, checkpoints/, metrics.jsonl, model.ply and scene.json, so `ngfx view RUN` and `ngfx render RUN`
work on the result. Running again on the same RUN resumes from its last checkpoint.
"""

import dataclasses
from pathlib import Path

from ngfx.atomic import check_output_folder
from ngfx.cli.common import parse_rgb
from ngfx.cli.runtime_flags import start_runtime
from ngfx.errors import InputError

__all__ = ["CAPTURE_FORMATS", "add_arguments", "budget_flags", "main"]

# ngfx.scenes.captures.FORMATS, spelled out so that parsing the flags imports no torch (a test keeps them equal)
CAPTURE_FORMATS = ("transforms", "blender", "dnerf", "colmap", "llff", "panoptic")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".exr")  # ngfx.scenes.image_file.IMAGE_SUFFIXES (a test keeps them equal)
# method -> the module whose main(args) trains it; imported only when chosen
METHODS = {"gs3d": "ngfx.cli.train", "gs4d": "ngfx.cli.train", "image": "ngfx.cli.train_image"}


def add_arguments(parser) -> None:
    parser.add_argument("data", metavar="DATA",
                        help="a capture folder (transforms.json, COLMAP, LLFF, ...), or an image (.png .jpg .exr)")
    parser.add_argument("--method", default=None, choices=sorted(METHODS),
                        help="gs3d: static 3D Gaussians; gs4d: dynamic xyzt Gaussians (timed captures); image: a "
                             "2D hash-grid field fitted to one image (the default for image files)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the method's)")
    parser.add_argument("--out", default=None, help="run folder (default runs/<DATA name>-<method>)")
    parser.add_argument("--format", default=None, choices=CAPTURE_FORMATS,
                        help="read DATA as this capture format (default: detected; the first complete one)")
    parser.add_argument("--downscale", type=int, default=1,
                        help="use images_N/ when the capture has it, else resize the images by 1/N")
    parser.add_argument("--split", default="auto",
                        help="auto (the format's own split, else every 8th view held out), every:N, cameras:a,b")
    parser.add_argument("--background", default=None, help="R,G,B for RGBA images (default white)")
    parser.add_argument("--skip-missing", action="store_true", help="drop views whose image is missing")
    parser.add_argument("--n-init", type=int, default=None,
                        help="Gaussians to start from when the capture has no point cloud (default 100,000)")
    parser.add_argument("--config", default=None,
                        help="JSON of training settings (any fields of a run's config.json, e.g. "
                             "consistency_weight, sh_degree_t, near_plane); the flags here override it")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="also stop after this many seconds of training (evaluation not counted)")
    parser.add_argument("--sh-degree", type=int, default=None, choices=[0, 1, 2, 3],
                        help="spherical-harmonics degree of the colours (default 3; 0 for fixed camera rigs)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--view", action="store_true",
                        help="open the viewer on the model while it trains; closing it stops training")
    parser.add_argument("--screenshot", default=None,
                        help="with --view: after training, save the viewer's final frame to this PNG and exit")


def _options(args):
    from ngfx.scenes.captures import LoadOptions

    if args.downscale < 1:
        raise InputError(f"must be a whole number >= 1, got {args.downscale}", field="--downscale", fix="e.g. 2")
    background = parse_rgb(args.background) or (1.0, 1.0, 1.0)
    return LoadOptions(downscale=args.downscale, split=args.split, background=background,
                       skip_missing=args.skip_missing)


def budget_flags(args) -> dict:
    """--steps and --max-seconds, checked, as config changes (only those given); every method takes them."""
    changes = {}
    if args.steps is not None:
        if args.steps < 1:
            raise InputError(f"must be >= 1, got {args.steps}", field="--steps", fix="e.g. --steps 3000")
        changes["steps"] = args.steps
    if args.max_seconds is not None:
        if not 0 < args.max_seconds < 1e9:
            raise InputError(f"must be > 0, got {args.max_seconds}", field="--max-seconds", fix="e.g. 300")
        changes["max_seconds"] = args.max_seconds
    return changes


def _config(args, capture, background):
    from ngfx.splatting.trainer import GaussianTrainConfig

    from ngfx.train.config import load_config

    base = load_config(args.config, GaussianTrainConfig) if args.config is not None else None
    method = args.method or (base.method if base is not None else "gs3d")
    if method == "gs4d" and not capture.is_dynamic:
        raise InputError("this capture has no time per view, so there is nothing for 4D Gaussians to learn",
                         file=capture.root, field="--method", fix="use --method gs3d")
    changes = {"method": method, "background": background}
    changes.update(budget_flags(args))
    if args.n_init is not None:
        if args.n_init < 1:
            raise InputError(f"must be >= 1, got {args.n_init}", field="--n-init", fix="e.g. --n-init 20000")
        changes["n_init"] = args.n_init
    if args.sh_degree is not None:
        changes["sh_degree"] = args.sh_degree
    known = {f.name for f in dataclasses.fields(GaussianTrainConfig)}
    changes = {k: v for k, v in changes.items() if k in known}
    if base is not None:
        if base.background is not None:
            changes.pop("background")  # the file's colour, unless --background was given
            if args.background is not None:
                changes["background"] = background
        return dataclasses.replace(base, **changes)
    return GaussianTrainConfig(**changes)


def main(args) -> int:
    method = args.method or ("image" if Path(args.data).suffix.lower() in IMAGE_SUFFIXES else None)
    if METHODS.get(method, __name__) != __name__:
        import importlib

        return importlib.import_module(METHODS[method]).main(args)
    if Path(args.data).suffix.lower() in IMAGE_SUFFIXES and Path(args.data).is_file():
        raise InputError(f"is an image; --method {method} trains on multi-view captures", file=args.data,
                         field="--method", fix="use --method image, or give a capture folder")
    return _train_capture(args)


def _train_capture(args) -> int:
    from ngfx.scenes.captures import load_capture
    from ngfx.splatting.trainer import train_gaussians

    if args.screenshot is not None and not args.view:
        raise InputError("--screenshot saves the viewer's frame, so it needs --view", field="--screenshot",
                         fix="add --view")
    if args.screenshot is not None:
        check_output_folder(args.screenshot, field="--screenshot")
    if args.out is not None:
        check_output_folder(args.out)  # the run folder is made; the folders above it must exist
    options = _options(args)
    capture = load_capture(Path(args.data), options, format=args.format)
    cfg = _config(args, capture, options.background)
    run_dir = Path(args.out) if args.out else Path("runs") / f"{Path(args.data).resolve().name}-{cfg.method}"
    start_runtime(args)
    print(f"ngfx train: {capture.format} capture, {len(capture.split('train'))} training views, "
          f"{len(capture.split('val')) + len(capture.split('test'))} held out -> {run_dir}", flush=True)
    if capture.detection:
        print(f"ngfx train: read as {capture.detection}", flush=True)
    if args.view:
        from ngfx.cli.train_view import train_with_viewer

        summary = train_with_viewer(capture, cfg, run_dir, options=options, screenshot=args.screenshot)
        if summary is None:  # the window closed before training started
            return 130
    else:
        summary = train_gaussians(capture, cfg, run_dir, options=options)
    print(f"ngfx train: {summary.status} after {summary.steps} steps in {summary.seconds:.1f} s; "
          f"held-out PSNR {summary.psnr_val:.2f} dB (untrained {summary.psnr_init:.2f} dB), "
          f"SSIM {summary.ssim_val:.3f}, {summary.n_gaussians:,} Gaussians", flush=True)
    if summary.status == "non_finite":  # the harness kept the last good checkpoint
        print(f"ngfx train: stopped: {summary.message}", flush=True)
        return 1
    print(f"ngfx train: view with `ngfx view {run_dir}`, render with `ngfx render {run_dir} --out video.mp4`"
          + ("; run the same command again to resume" if summary.status == "interrupted" else ""))
    return 130 if summary.status == "interrupted" and not args.view else 0  # --view: closing it is normal
