"""The gsplat-based reference trainer for `ngfx train`'s throughput (issue 9): same capture, same random start
(ngfx's `init_gaussians`), same loss code (`ngfx.train.losses.l1_ssim_loss`), same INRIA learning rates and
SH schedule; gsplat 1.5.3's `rasterization` and `DefaultStrategy` (densify 500..15,000 every 100 steps,
opacity reset every 3,000) with one torch Adam per parameter as gsplat's simple_trainer builds them.

    python tools/gsplat_trainer.py DATA [--stop 3000 --marks 500,1500 --engine gsplat|ngfx]

Both follow the schedules of a 30,000-step run and stop after `--stop` steps. Prints steps/s between the marks
for the chosen engine (`--engine ngfx` runs `ngfx.splatting.trainer` on the same settings, with its
loop's loss read and progress but no checkpoints). Run the two engines one after the other on one card.
"""

import argparse
import io
import itertools
import math
import time

import torch


def _gsplat_run(capture, cfg, train, marks, stop, sync):
    import gsplat
    from gsplat.strategy import DefaultStrategy

    from ngfx.splatting.trainer_init import camera_extent, init_gaussians
    from ngfx.train.losses import l1_ssim_loss

    device = torch.device("cuda")
    cameras = [im.camera for im in train]
    extent = camera_extent(cameras)
    model = init_gaussians(capture, cfg, cameras, device=device)
    params = torch.nn.ParameterDict({
        "means": model.means.detach(), "scales": model.log_scales.detach(), "quats": model.quats.detach(),
        "opacities": model.opacity_logits.detach(), "sh0": model.sh_dc.detach(), "shN": model.sh_rest.detach()})
    lrs = {"means": cfg.lr_means * extent, "scales": cfg.lr_scales, "quats": cfg.lr_rotation,
           "opacities": cfg.lr_opacity, "sh0": cfg.lr_sh_dc, "shN": cfg.lr_sh_rest}
    opts = {k: torch.optim.Adam([{"params": params[k], "lr": lr, "name": k}], eps=1e-15) for k, lr in lrs.items()}
    decay = torch.optim.lr_scheduler.ExponentialLR(opts["means"], gamma=(cfg.lr_means_final / cfg.lr_means)
                                                   ** (1.0 / cfg.steps))
    strategy = DefaultStrategy(verbose=False)
    strategy.check_sanity(params, opts)
    state = strategy.initialize_state(scene_scale=extent)
    viewmats = [torch.tensor(c.T_camera_world, dtype=torch.float32, device=device)[None] for c in cameras]
    Ks = [torch.tensor(c.K, dtype=torch.float32, device=device)[None] for c in cameras]
    targets = [im.rgb.to(device) for im in train]
    bg = torch.ones(3, device=device)
    picks = torch.Generator().manual_seed(cfg.seed + 1)
    times, prof = {}, None
    for step in range(stop):
        if step in marks:
            sync()
            times[step] = (time.perf_counter(), len(params["means"]))
        prof = _profile_window(step, prof, sync)
        i = int(torch.randint(len(train), (1,), generator=picks))
        cam = cameras[i]
        rgb, alpha, info = gsplat.rasterization(
            params["means"], params["quats"], torch.exp(params["scales"]), torch.sigmoid(params["opacities"]),
            torch.cat([params["sh0"], params["shN"]], 1), viewmats[i], Ks[i], cam.width, cam.height,
            sh_degree=cfg.sh_degree_at(step), near_plane=max(cfg.near_plane, cam.near), packed=False)
        image = rgb[0] + (1.0 - alpha[0]) * bg
        loss = l1_ssim_loss(image, targets[i], ssim_weight=cfg.ssim_weight)
        strategy.step_pre_backward(params, opts, state, step, info)
        loss.backward()
        for opt in opts.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        decay.step()
        strategy.step_post_backward(params, opts, state, step, info, packed=False)
        if not math.isfinite(float(loss)):  # read every step, as ngfx's loop does
            raise RuntimeError(f"non-finite loss at step {step}")
    sync()
    times[stop] = (time.perf_counter(), len(params["means"]))
    return times


PROFILE = {"window": None}


def _profile_window(step, prof, sync):
    """Start a torch.profiler at the window's first step, print its tables at the last one."""
    window = PROFILE["window"]
    if window is None or step not in window:
        return prof
    if step == window[0]:
        prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                                  torch.profiler.ProfilerActivity.CUDA])
        prof.__enter__()
        return prof
    sync()
    prof.__exit__(None, None, None)
    n = window[1] - window[0]
    events = prof.key_averages()
    device_us = sum(e.self_device_time_total for e in events) / n
    print(f"profiled steps {window[0]}-{window[1]}: device time {device_us / 1000:.3f} ms/step")
    print(events.table(sort_by="self_cuda_time_total", row_limit=20, max_name_column_width=60))
    print(events.table(sort_by="self_cpu_time_total", row_limit=20, max_name_column_width=60))
    return None


def _ngfx_run(capture, cfg, train, marks, stop, sync):
    import dataclasses

    from ngfx.splatting.trainer import train_gaussians

    times = {}

    state = {"prof": None}

    def on_step(step, model):
        state["prof"] = _profile_window(step, state["prof"], sync)
        if step in marks or step == stop:
            sync()
            times[step] = (time.perf_counter(), model.num_gaussians)
        if step == stop:
            raise KeyboardInterrupt  # the loop stops here (and writes its one checkpoint)

    import shutil

    cfg, run_dir = dataclasses.replace(cfg, checkpoint_every=0), "/tmp/gsplat-trainer-ngfx-run"
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run, never a resume
    train_gaussians(capture, cfg, run_dir, on_step=on_step, stream=io.StringIO(),
                    images={"train": train, "val": train[:1]})
    return times


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("--stop", type=int, default=3000)
    p.add_argument("--marks", default="500,1500")
    p.add_argument("--engine", default="gsplat", choices=("gsplat", "ngfx"))
    p.add_argument("--n-init", type=int, default=100_000)
    p.add_argument("--arch", default="cuda", help="ngfx engine only: cpu for a smoke test")
    p.add_argument("--profile", default="", help="FIRST:LAST steps under torch.profiler (tables printed)")
    args = p.parse_args()
    from ngfx.kernels import runtime
    from ngfx.scenes.captures import load_capture, load_images
    from ngfx.splatting.trainer_config import GaussianTrainConfig

    runtime.init(args.arch)
    if args.profile:
        PROFILE["window"] = tuple(int(v) for v in args.profile.split(":"))
    capture = load_capture(args.data)
    train = load_images(capture, "train")
    cfg = GaussianTrainConfig(method="gs3d", steps=30_000, n_init=args.n_init)
    marks = sorted({0, *(int(m) for m in args.marks.split(",")), args.stop})
    run = _gsplat_run if args.engine == "gsplat" else _ngfx_run
    times = run(capture, cfg, train, set(marks), args.stop,
                torch.cuda.synchronize if args.arch == "cuda" else (lambda: None))
    got = sorted(times)
    for a, b in itertools.pairwise(got):
        (ta, na), (tb, nb) = times[a], times[b]
        print(f"{args.engine}: steps {a}-{b}: {(b - a) / (tb - ta):.1f} it/s, Gaussians {na:,} -> {nb:,}")
    (t0, _), (t1, n1) = times[got[0]], times[got[-1]]
    print(f"{args.engine}: all {got[-1] - got[0]} steps: {(got[-1] - got[0]) / (t1 - t0):.1f} it/s, {n1:,} Gaussians")


if __name__ == "__main__":
    main()
