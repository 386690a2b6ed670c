"""`ngfx train IMAGE --method image`: fit a 2D neural field (hash grid + fused MLP) to one image.

IMAGE is a PNG (8 or 16 bit), JPEG or OpenEXR file. RUN (--out, default `runs/<image name>-image`) receives
config.json, image.json, metrics.jsonl, checkpoints/ and field.pt; `ngfx view RUN` pans and zooms over the
field, `ngfx render RUN --out x.png --width W --height H` renders it at any size. Settings beyond the flags
come from --config (any fields of the run's config.json: log2_table_size, n_levels, batch_size, dtype, ...).
Running again on the same RUN resumes from its last checkpoint.
"""

import dataclasses
from pathlib import Path

from ngfx.cli.runtime_flags import start_runtime
from ngfx.cli.train import budget_flags
from ngfx.errors import InputError

__all__ = ["main"]

# flags of `ngfx train` that mean nothing for a single image, and their defaults
_CAPTURE_FLAGS = {"format": None, "downscale": 1, "split": "auto", "background": None, "skip_missing": False,
                  "n_init": None, "sh_degree": None, "view": False, "screenshot": None}


def _config(args):
    from ngfx.fields.image_fit import ImageFitConfig
    from ngfx.train.config import load_config

    base = load_config(args.config, ImageFitConfig) if args.config is not None else ImageFitConfig()
    changes = budget_flags(args)
    if args.max_seconds is not None and args.steps is None:
        changes["steps"] = 10**7  # the time budget decides when to stop
    return dataclasses.replace(base, **changes)


def main(args) -> int:
    from ngfx.atomic import check_output_folder
    from ngfx.fields.image_fit import fit_image
    from ngfx.scenes.image_file import load_image

    used = [f"--{k.replace('_', '-')}" for k, default in _CAPTURE_FLAGS.items() if getattr(args, k) != default]
    if used:
        raise InputError(f"{', '.join(used)} applies to multi-view captures, not to image fitting",
                         field=used[0], fix="drop it (settings of the image fit go in --config)")
    if args.out is not None:
        check_output_folder(args.out)
    image = load_image(Path(args.data))
    cfg = _config(args)
    run_dir = Path(args.out) if args.out else Path("runs") / f"{Path(args.data).stem}-image"
    start_runtime(args)
    print(f"ngfx train: {image.width}x{image.height} image, {image.channels} channels "
          f"({'linear' if image.is_linear else 'display-encoded'}, {image.source_bits}-bit) -> {run_dir}", flush=True)
    summary = fit_image(image, cfg, run_dir, progress=not args.no_progress)
    print(f"ngfx train: {summary.status} after {summary.steps} steps in {summary.seconds:.1f} s; PSNR "
          f"{summary.psnr:.2f} dB at the pixel centres (untrained {summary.psnr_init:.2f} dB)", flush=True)
    if summary.status == "non_finite":
        print("ngfx train: stopped: the loss is not finite; the last good checkpoint is kept", flush=True)
        return 1
    print(f"ngfx train: view with `ngfx view {run_dir}`, render with `ngfx render {run_dir} --out image.png`"
          + ("; run the same command again to resume" if summary.status == "interrupted" else ""))
    return 130 if summary.status == "interrupted" else 0
