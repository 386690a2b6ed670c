"""Host cost of one Taichi kernel launch, by argument kind and count (why small kernels are slow).

    python tools/launch_overhead.py [--arch cuda] [--json OUT.json]

Rows: torch.add (the reference), Taichi's own call path, and ngfx's lean path (`ngfx.kernels.launch.fast`)
with 1 and 8 torch tensors and with 1 tensor + 8 scalars; each is the mean host time per launch over 300
launches with one synchronisation at the end (throughput), after 20 warm-up launches.
"""

import argparse
import json
import time

import torch

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast


def per_call_us(fn, sync, n=300):
    for _ in range(20):
        fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return (time.perf_counter() - t0) / n * 1e6


def queued_work_us(launch, tensor, sync) -> dict:
    """Does a launch return while earlier GPU work is still queued, or wait for it? Host time of one lean launch
    issued right behind about 20 ms of queued matmuls, against the same launch on an idle GPU."""
    a = torch.randn(4096, 4096, device=tensor.device)
    out = {}
    for label, queue in (("idle GPU", 0), ("behind queued work", 1)):
        sync()
        for _ in range(20 * queue):
            a @ a  # noqa: B018 - queued work
        start = time.perf_counter()
        launch(tensor)
        host = (time.perf_counter() - start) * 1e6
        sync()
        out[f"lean launch host time, {label}"] = host
        print(f"{'lean launch, ' + label:>30}: {host:8.1f} us host time")
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    runtime.init(args.arch)
    ti = runtime.taichi()
    dev = runtime.device()
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    nd = ti.types.ndarray(ti.f32, ndim=1)

    @ti.kernel
    def one(a: nd):
        for i in range(1):
            a[i] += 1.0

    @ti.kernel
    def eight(a: nd, b: nd, c: nd, d: nd, e: nd, f: nd, g: nd, h: nd):
        for i in range(1):
            a[i] += b[i] + c[i] + d[i] + e[i] + f[i] + g[i] + h[i]

    @ti.kernel
    def scalars(a: nd, s0: ti.f32, s1: ti.f32, s2: ti.f32, s3: ti.f32, s4: ti.f32, s5: ti.f32, s6: ti.i32,
                s7: ti.i32):
        for i in range(1):
            a[i] += s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7

    ts = [torch.zeros(16, device=dev) for _ in range(8)]
    tn = ti.ndarray(ti.f32, 16)
    lean_one, lean_eight, lean_scalars = fast(one), fast(eight), fast(scalars)
    rows = [("torch.add (reference)", lambda: ts[0].add_(1.0)),
            ("taichi: 1 tensor", lambda: one(ts[0])),
            ("taichi: 8 tensors", lambda: eight(*ts)),
            ("taichi: 1 tensor + 8 scalars", lambda: scalars(ts[0], 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7, 8)),
            ("taichi: 1 ti.ndarray", lambda: one(tn)),
            ("lean: 1 tensor", lambda: lean_one(ts[0])),
            ("lean: 8 tensors", lambda: lean_eight(*ts)),
            ("lean: 1 tensor + 8 scalars", lambda: lean_scalars(ts[0], 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7, 8))]
    results = {}
    for label, fn in rows:
        results[label] = per_call_us(fn, sync)
        print(f"{label:>30}: {results[label]:8.1f} us/launch (throughput, one sync at the end)")
    results["taichi: 1 tensor, synced each"] = per_call_us(lambda: (one(ts[0]), sync()), lambda: None)
    print(f"{'taichi: 1 tensor, synced each':>30}: {results['taichi: 1 tensor, synced each']:8.1f} us")
    if dev.type == "cuda":
        results.update(queued_work_us(lean_one, ts[0], sync))
    if args.json:
        card = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu"
        with open(args.json, "w") as f:
            json.dump({"arch": runtime.arch(), "card": card, "us_per_launch": results}, f, indent=2)


if __name__ == "__main__":
    main()
