"""Where a gs3d training step's time goes on the GPU (issue 9): steps/s with the CLI's settings, then a
torch.profiler window over a stretch of steps (CUDA kernels, Taichi's through CUPTI, and host ops), printed
as two tables: by device time and by host time, per step.

    python tools/profile_train.py DATA [--window 600:660 --n-init 100000 --arch cuda]

The run uses the CLI's 30,000-step schedules (densification every 100 steps from step 500) and stops after
the window.
"""

import argparse
import io
import time

import torch

from ngfx.kernels import runtime


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("--arch", default="cuda")
    p.add_argument("--window", default="600:660", help="first:last step profiled")
    p.add_argument("--n-init", type=int, default=100_000)
    p.add_argument("--out", default="/tmp/profile-train-run")
    args = p.parse_args()
    runtime.init(args.arch)
    cuda = args.arch == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    activities = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
    from ngfx.scenes.captures import load_capture
    from ngfx.splatting.trainer import GaussianTrainConfig, train_gaussians

    first, last = (int(v) for v in args.window.split(":"))
    state = {"prof": None, "t": {}}

    def on_step(step, model):
        if step in (first - 200, first, last):
            sync()
            state["t"][step] = time.perf_counter()
        if step == first:
            state["prof"] = torch.profiler.profile(activities=activities)
            state["prof"].__enter__()
        elif step == last:
            sync()
            state["prof"].__exit__(None, None, None)
            state["n"] = model.num_gaussians
            raise KeyboardInterrupt  # stop the run here (the loop saves a checkpoint and returns)

    capture = load_capture(args.data)
    cfg = GaussianTrainConfig(method="gs3d", steps=30_000, n_init=args.n_init, checkpoint_every=0)
    summary = train_gaussians(capture, cfg, args.out, on_step=on_step, stream=io.StringIO())
    t = state["t"]
    rate = 200 / (t[first] - t[first - 200])
    print(f"steps {first - 200}-{first}: {rate:.1f} it/s ({1000 / rate:.2f} ms/step), "
          f"{state.get('n', 0):,} Gaussians at the window; run stopped after {summary.steps} steps")
    n = last - first
    events = state["prof"].key_averages()
    print(f"profiled steps {first}-{last} (with profiler overhead): {(t[last] - t[first]) / n * 1000:.2f} ms/step")
    if cuda:
        print(events.table(sort_by="self_cuda_time_total", row_limit=25, max_name_column_width=60))
    print(events.table(sort_by="self_cpu_time_total", row_limit=25, max_name_column_width=60))


if __name__ == "__main__":
    main()
