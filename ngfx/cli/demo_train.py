"""The training half of `ngfx demo`: synthetic captures of the demo scene, a short gs3d and a short gs4d run
with their held-out PSNR, and a video of each trained model.

- DIR/capture/ (Blender layout, the scene at t = 0, every 8th view held out) and DIR/capture4d/ (D-NeRF
  layout: 3/8 as many views, each at 6 times spread over the animation, every 8th view held out).
- DIR/gs3d/: 3D Gaussians trained on capture/ from random points; DIR/gaussians.mp4: an orbit of them.
- DIR/gs4d/: 4D (xyzt) Gaussians trained on capture4d/, one view (and its time) per step, starting from a
  point cloud: the trained gs3d Gaussians that are not near-transparent (the scene at t = 0, as a static
  reconstruction seeds a dynamic one) plus random points around the subject for what moves, each at a
  random time and grey (random colours would outlast a short run as coloured blotches).
  DIR/gaussians4d.mp4: one fixed camera while time runs over the model's span (the capture's D-NeRF clock:
  0 to 5/6 with 6 times), so what moves in it is the model's motion, not the camera's.

Each run prints one line: steps, time, the held-out PSNR of the trained and of the untrained model (for gs4d
the seeded one), SSIM. Both are normal run folders (`ngfx view RUN`, `ngfx render RUN --time T`).
`ngfx train DIR/capture4d --method gs4d` is the same 4D training from random points (many more steps).

Sizes (`--views`, `--capture-size`, `--steps` override them; `--steps` sets the gs3d run, the gs4d run gets
3/5 as many): on the CPU 32 views at 80x60, gs3d 5,000 random initial Gaussians and 500 steps, gs4d seeded
with 1,500 random points and 300 steps, no densification; on CUDA 64 views at 200x150, gs3d 50,000 Gaussians,
gs4d 15,000 random points, 3,000 / 1,800 steps, INRIA's densification compressed to the run.

Measured on two CPU cores at the default sizes (2026-12-07): gs3d 18.9 dB held out (untrained 12.9 dB) in
about 20 s, gs4d seeded, 300 steps, about 12 s: 17.6 dB (untrained 15.3 dB). With random start colours
instead of grey, gs3d reached 17.5 dB and both videos showed coloured blotches on the floor: 500 steps
cannot undo a random colour (trainer_init). In 300 steps the 4D Gaussians keep long time spans, so the
torus's bob comes out as a drift (one linear motion per Gaussian): the motion needs longer runs.
"""

import contextlib
import dataclasses
import os
import shutil
import time
from pathlib import Path

from ngfx.errors import InputError

__all__ = ["DemoSizes", "demo_sizes", "train_demo"]

N_TIMES = 6  # times per view in capture4d
_C0 = 0.28209479177387814  # Y_0^0: SH DC to colour


@dataclasses.dataclass(frozen=True)
class DemoSizes:
    views: int
    width: int
    height: int
    steps: int  # gs3d
    n_init: int  # gs3d
    steps4d: int
    random4d: int  # gs4d starts from gs3d's Gaussians plus this many random points in the subject's box
    densify: bool


_SIZES = {"cpu": DemoSizes(32, 80, 60, 500, 5_000, 300, 1_500, False),
          "cuda": DemoSizes(64, 200, 150, 3_000, 50_000, 1_800, 15_000, True)}
_SEED_OPACITY = 0.05  # gs3d Gaussians fainter than this do not seed gs4d
_STEPS4D = 3 / 5  # gs4d steps per gs3d step when --steps is given


def demo_sizes(args, arch: str) -> DemoSizes:
    """The backend's sizes with --views, --capture-size and --steps applied (already checked)."""
    sizes = _SIZES["cuda" if arch == "cuda" else "cpu"]
    if args.capture_size:
        w, h = (int(v) for v in args.capture_size.lower().split("x"))
        sizes = dataclasses.replace(sizes, width=w, height=h)
    if args.views:
        sizes = dataclasses.replace(sizes, views=args.views)
    if args.steps:
        sizes = dataclasses.replace(sizes, steps=args.steps, steps4d=max(1, round(args.steps * _STEPS4D)))
    return sizes


def _fresh(folder: Path, marker: str) -> Path:
    """Empty a folder a previous demo wrote (recognised by `marker`), so a rerun starts over."""
    if (folder / marker).exists():
        shutil.rmtree(folder)
    return folder


def _seeded(capture4d, run3d: Path, bounds, n_random: int, seed: int = 0):
    """capture4d with a point cloud for gs4d's init (module docstring): the means and DC colours of the gs3d
    run's Gaussians of opacity > _SEED_OPACITY, and n_random uniform grey points in the subject's
    box grown by 20%, where the moving parts go. Returns (capture, number of gs3d seeds)."""
    import numpy as np

    from ngfx.splatting.ply import load_gaussians

    model = load_gaussians(run3d / "model.ply")
    keep = (model.opacities > _SEED_OPACITY).numpy()
    xyz = model.means.detach().numpy()[keep].astype(np.float64)
    rgb = (0.5 + _C0 * model.sh_dc[:, 0].detach().numpy()[keep]).clip(0.0, 1.0)
    rng = np.random.default_rng(seed)
    lo, hi = (np.asarray(b, dtype=np.float64) for b in bounds)
    centre, half = 0.5 * (lo + hi), 0.6 * (hi - lo)
    xyz = np.concatenate([xyz, centre + half * rng.uniform(-1.0, 1.0, (n_random, 3))])
    rgb = np.concatenate([rgb, np.full((n_random, 3), 0.5)])  # grey, as every random init (trainer_init)
    colors = np.round(rgb * 255.0).astype(np.uint8)
    return dataclasses.replace(capture4d, points=xyz, point_colors=colors), int(keep.sum())


def _config(method: str, steps: int, n_init: int, densify: bool, background):
    from ngfx.splatting.trainer import GaussianTrainConfig

    extra = {} if densify else {"densify": None}
    if method == "gs4d":  # from the seeded point cloud; one view per step (short runs: more steps do better)
        extra.update(init="points", times_per_step=1)
    return GaussianTrainConfig(method=method, steps=steps, n_init=n_init, sh_degree=1,
                               sh_degree_interval=max(1, steps // 2),
                               lr_means=1e-3 if not densify else 1.6e-4,
                               background=tuple(float(v) for v in background), checkpoint_every=0,
                               log_every=max(1, min(100, steps // 5)), **extra)


def _fit(args, capture, cfg, run_dir: Path, what: str):
    """Train one run and print its line; InputError when it did not finish."""
    from ngfx.splatting.trainer import train_gaussians

    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(open(os.devnull, "w")) if args.no_progress else None
        summary = train_gaussians(capture, cfg, run_dir, stream=stream)
    print(f"ngfx demo: trained {cfg.method} for {summary.steps} steps in {summary.seconds:.1f} s ({what}, "
          f"{summary.n_gaussians:,} Gaussians); held-out PSNR {summary.psnr_val:.2f} dB "
          f"(untrained {summary.psnr_init:.2f} dB), SSIM {summary.ssim_val:.3f}", flush=True)
    if summary.status != "finished":
        raise InputError(f"training stopped ({summary.status})", file=run_dir,
                         fix="rerun with --steps smaller")
    return summary


def _video(args, run_dir: Path, video: Path, *, width: int, height: int, bounds, fixed_camera: bool) -> None:
    """Render the trained run like `ngfx render RUN --orbit`: an orbit (time standing still for a 3D model),
    or, with fixed_camera, the orbit's first camera while time sweeps the model's span."""
    from ngfx.render.core import SceneRenderer
    from ngfx.render.headless import plan_frames, render_frames
    from ngfx.render.sources import load_source

    t0 = time.perf_counter()
    trained = load_source(str(run_dir))
    plan = plan_frames(trained, trajectory="orbit", frames=min(args.frames, 48), width=width, height=height,
                       fps=args.fps, bounds=bounds)
    note = ""
    if fixed_camera:
        plan.cameras = [plan.cameras[0]] * len(plan.cameras)
        note = f", fixed camera, time {plan.times[0]:.2f} to {plan.times[-1]:.2f} of {trained.duration_s:.2f}"
    render_frames(SceneRenderer(trained), plan, str(video), progress=not args.no_progress)
    print(f"ngfx demo: wrote {video} ({len(plan.cameras)} frames, {width}x{height}{note}) in "
          f"{time.perf_counter() - t0:.1f} s", flush=True)


def train_demo(args, scene, renderer, arch: str, bounds) -> None:
    """Steps 2-4 of `ngfx demo` (module docstring) into args.out; `bounds`: the subject's (min, max)."""
    from ngfx.render.synthetic_capture import render_capture
    from ngfx.scenes.captures import load_capture

    s = demo_sizes(args, arch)
    out, cw, ch, views4d = Path(args.out), s.width, s.height, max(2, s.views * 3 // 8)
    t0 = time.perf_counter()
    capture_dir = render_capture(scene, _fresh(out / "capture", "transforms_train.json"), n_views=s.views,
                                 width=cw, height=ch, bounds=bounds, renderer=renderer)
    times = [scene.duration_s * k / N_TIMES for k in range(N_TIMES)]
    capture4d_dir = render_capture(scene, _fresh(out / "capture4d", "transforms_train.json"), n_views=views4d,
                                   width=cw, height=ch, times=times, bounds=bounds, renderer=renderer)
    print(f"ngfx demo: rendered {s.views} views at {cw}x{ch} into {capture_dir} and {views4d} views x "
          f"{len(times)} times into {capture4d_dir} in {time.perf_counter() - t0:.1f} s", flush=True)

    capture = load_capture(capture_dir)
    run3d = _fresh(out / "gs3d", "config.json")
    _fit(args, capture, _config("gs3d", s.steps, s.n_init, s.densify, scene.background), run3d,
         f"{len(capture.split('train'))} training views")
    _video(args, run3d, out / "gaussians.mp4", width=2 * cw, height=2 * ch, bounds=bounds, fixed_camera=False)

    capture4d, n_seeds = _seeded(load_capture(capture4d_dir), run3d, bounds, s.random4d)
    run4d = _fresh(out / "gs4d", "config.json")
    n_train, n_points = len(capture4d.split("train")), len(capture4d.points)
    _fit(args, capture4d, _config("gs4d", s.steps4d, n_points, s.densify, scene.background), run4d,
         f"{n_train} training frames: {n_train // len(times)} views x {len(times)} times; "
         f"seeded with gs3d's {n_seeds:,} + {s.random4d:,} random")
    _video(args, run4d, out / "gaussians4d.mp4", width=2 * cw, height=2 * ch, bounds=bounds,
           fixed_camera=True)
    print(f"  the runs: {run3d} and {run4d} (ngfx view RUN; ngfx render {run4d} --time T)")
