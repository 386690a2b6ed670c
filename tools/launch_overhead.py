"""Host cost of one Taichi kernel launch, by argument kind and count (why small kernels are slow).

    python tools/launch_overhead.py [--arch cuda]
"""

import argparse
import time

import torch

from ngfx.kernels import runtime


def per_call_us(fn, sync, n=300):
    for _ in range(20):
        fn()
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return (time.perf_counter() - t0) / n * 1e6


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default=None)
    runtime.init(p.parse_args().arch)
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
    rows = [("torch.add (reference)", lambda: ts[0].add_(1.0)),
            ("1 torch ndarray", lambda: one(ts[0])),
            ("8 torch ndarrays", lambda: eight(*ts)),
            ("1 torch + 8 scalars", lambda: scalars(ts[0], 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7, 8)),
            ("1 ti.ndarray", lambda: one(tn))]
    for label, fn in rows:
        print(f"{label:>24}: {per_call_us(fn, sync):8.1f} us/launch (throughput, one sync at the end)")
    print(f"{'1 torch, synced each':>24}: {per_call_us(lambda: (one(ts[0]), sync()), lambda: None):8.1f} us")


if __name__ == "__main__":
    main()
