"""Suite `train`: Gaussian training quality and speed on real captures (cases in bench_train_cases.py).

Each case loads its capture, calibrates a step count for its time budget, then trains once with the budget
as a hard stop, evaluating held-out PSNR / SSIM when the training time (evaluation excluded) passes each mark
and at the end. Stage times come from synchronised timers (render, loss, backward, optimizer, densify). Per
case it writes RUN folders under <out folder>/train-runs/<case>/ and a picture <out folder>/train-<case>.png:
two held-out views, the render above its photograph.
"""

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch

from ngfx.cli.bench_train_cases import CASES, calibrate, case_capture, case_config, case_images, planned_steps
from ngfx.errors import InputError

__all__ = ["check_args", "run", "table"]

STAGES = ("render", "loss", "backward", "optimizer", "densify")


def _cases(args) -> list[str]:
    names = [c.strip() for c in (args.cases or "lego,fox,panoptic").split(",") if c.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        raise InputError(f"unknown train case {unknown[0]!r}; the cases are {', '.join(CASES)}", field="--cases")
    return names


def check_args(args) -> None:
    """Flag errors, before any work: unknown cases, bad numbers, missing capture folders."""
    for flag, value, least in (("--budget", args.budget, 1e-9), ("--steps", args.steps, 1),
                               ("--downscale", args.downscale, 1)):
        if value is not None and not value >= least:
            raise InputError(f"must be >= {least:g}, got {value}", field=flag)
    for name in _cases(args):
        folder = Path(args.data) / (CASES[name].data or "")
        if CASES[name].data is not None and not folder.is_dir():
            raise InputError(f"case {name} needs the {CASES[name].data}/ capture, which is not there",
                             file=folder, field="--data", fix="point --data at the folder holding it")


def _montage(run_dir: Path, capture, options, near_plane: float, n_views: int = 2) -> np.ndarray:
    """Two held-out views: the trained model's render over the photograph, side by side [H*2, W*n, 3]."""
    from ngfx.kernels import runtime
    from ngfx.scenes.captures import load_images
    from ngfx.splatting.ply import load_gaussians
    from ngfx.splatting.render import render_gaussians

    model = load_gaussians(run_dir / "model.ply").to(runtime.device())
    held = load_images(capture, "val" if capture.split("val") else "test", options)
    picks = [held[round(i * (len(held) - 1) / max(1, n_views - 1))] for i in range(min(n_views, len(held)))]
    background = torch.tensor(options.background, dtype=torch.float32)
    columns = []
    for image in picks:
        with torch.no_grad():
            camera = image.camera
            if near_plane > camera.near:  # as trained
                camera = dataclasses.replace(camera, near=near_plane)
            out = render_gaussians(model, camera)
        rgb = out.rgb.cpu() + (1.0 - out.alpha.cpu()[..., None]) * background
        columns.append(torch.cat([rgb.clamp(0, 1), image.rgb.cpu()], 0))
    heights = {c.shape[0] for c in columns}
    if len(heights) > 1:
        columns = columns[:1]
    return (torch.cat(columns, 1).numpy() * 255 + 0.5).astype(np.uint8)


def _row(name, case, capture, images, summary, steps, rate, seconds_budget) -> dict:
    cam = images["train"][0].camera  # of the pixels trained on (after --downscale)
    stages = {s: summary.stage_seconds.get(s, 0.0) for s in STAGES}
    trained = sum(stages.values())
    return {"case": name, "method": case.method, "width": cam.width, "height": cam.height,
            "train_views": len(capture.split("train")),
            "held_out_views": len(capture.split("val")) + len(capture.split("test")),
            "budget_s": seconds_budget, "calibrated_its": None if math.isnan(rate) else rate,
            "planned_steps": steps, "steps": summary.steps,
            "its": summary.steps / trained if trained > 0 else math.nan, "n_gaussians": summary.n_gaussians,
            "psnr_init": summary.psnr_init, "psnr": summary.psnr_val, "ssim": summary.ssim_val,
            "evals": summary.evals, "stage_seconds": stages, "status": summary.status}


def _near_camera_share(run_dir: Path, capture) -> float:
    """Share of the trained Gaussians within 0.1 x the camera extent of a training camera's centre (floaters
    that only one camera sees sit there)."""
    from ngfx.splatting.ply import load_gaussians
    from ngfx.splatting.trainer_init import camera_extent

    cameras = [f.camera for f in capture.split("train")]
    centres = torch.tensor(np.unique(np.stack([np.asarray(c.position) for c in cameras]).round(6), axis=0),
                           dtype=torch.float32)
    model = load_gaussians(run_dir / "model.ply")
    means = (model.means4[:, :3] if hasattr(model, "means4") else model.means).detach().float()
    nearest = torch.cat([torch.cdist(chunk, centres).min(1).values for chunk in means.split(65536)])
    return float((nearest < 0.1 * camera_extent(cameras)).float().mean())


def run(args):
    from ngfx.render.output import save_png
    from ngfx.splatting.trainer import train_gaussians

    out_dir = Path(args.out).parent if args.out else Path("bench-out")
    data_root = Path(args.data)
    rows = []
    for name in _cases(args):
        case = CASES[name]
        budget = args.budget if args.budget else case.budget_s
        run_dir = out_dir / "train-runs" / name
        if run_dir.exists() and any(run_dir.iterdir()):
            raise InputError("the run folder is not empty (a benchmark starts from scratch)", file=run_dir,
                             fix="delete it or pass another --out")
        capture, options = case_capture(name, case, data_root, args.downscale, out_dir / "train-runs")
        images = case_images(capture, options)
        rate = calibrate(capture, case, options, images) if not args.steps else math.nan
        steps = args.steps or planned_steps(case, rate, budget)
        plan = f"calibrated {rate:.1f} steps/s -> {steps} steps" if not args.steps else f"{steps} steps (--steps)"
        print(f"case {name}: {capture.format}, {len(capture.split('train'))} training views; {plan} in at most "
              f"{budget:g} s", flush=True)
        cfg = case_config(case, steps, budget_s=budget)
        summary = train_gaussians(capture, cfg, run_dir, options=options, images=images)
        row = _row(name, case, capture, images, summary, steps, rate, budget)
        row["near_camera_share"] = _near_camera_share(run_dir, capture)
        picture = out_dir / f"train-{name}.png"
        save_png(picture, _montage(run_dir, capture, options, case.near_plane))
        row["picture"] = str(picture)
        rows.append(row)
        print(_row_line(row), flush=True)
    return rows, {"data": str(data_root), "downscale": args.downscale}


def _marks(row) -> str:
    return "  ".join(f"{e['train_seconds']:.0f}s {e['psnr']:.2f}/{e['ssim']:.3f}" if math.isfinite(
        e["train_seconds"]) else f"end {e['psnr']:.2f}/{e['ssim']:.3f}" for e in row["evals"])


def _row_line(r) -> str:
    total = sum(r["stage_seconds"].values()) or 1.0
    shares = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in r["stage_seconds"].items())
    return (f"{r['case']:>8} {r['method']} {r['width']}x{r['height']} {r['train_views']}+{r['held_out_views']} views"
            f" | {r['steps']} steps ({r['its']:.1f} it/s), {r['n_gaussians']:,} Gaussians | PSNR {r['psnr']:.2f}"
            f" SSIM {r['ssim']:.3f} (untrained {r['psnr_init']:.2f}) | at: {_marks(r)} | {shares}"
            f" | near cameras {100 * r.get('near_camera_share', math.nan):.2f}%")


def table(record) -> str:
    lines = [f"train bench on {record['arch']} ({record['card']}), commit {record['commit']}, "
             f"data {record['data']}, downscale {record['downscale']}"]
    return "\n".join(lines + [_row_line(r) for r in record["rows"]])

