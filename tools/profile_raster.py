"""Where the rasterizer's frame time goes: each phase timed alone (synchronised), plus GPU kernel times.

    python tools/profile_raster.py --mesh .bench-data/armadillo.npz [--arch cuda]
"""

import argparse

import torch

from ngfx.kernels import runtime
from ngfx.kernels.trimesh.kernels import EMPTY_KEY, make_raster_kernels


def timed(label, fn, sync, n=200, results=None):
    from ngfx.cli.bench import median_ms

    results.append((label, 1e3 * median_ms(fn, repeats=n, warmup=10, sync=sync)[0]))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mesh", required=True)
    p.add_argument("--arch", default=None)
    p.add_argument("--width", type=int, default=1920)
    p.add_argument("--height", type=int, default=1080)
    a = p.parse_args()
    runtime.init(a.arch)
    from ngfx.cli.bench_raster import _views, load_bench_mesh
    from ngfx.kernels.trimesh import rasterize

    mesh, _ = load_bench_mesh(a.mesh)
    dev = runtime.device()
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    cam = _views(mesh, a.width, a.height)[1]
    verts = torch.as_tensor(mesh.vertices, device=dev)
    faces = torch.as_tensor(mesh.faces, device=dev)
    T = torch.as_tensor(cam.T_camera_world, dtype=torch.float32, device=dev)
    vc = (verts @ T[:3, :3].T + T[:3, 3]).contiguous()
    K = (cam.fx, cam.fy, cam.cx, cam.cy)
    W, H = cam.width, cam.height
    setup, raster, resolve = make_raster_kernels("f32", runtime.generation())
    F = faces.shape[0]
    planes = torch.empty((F, 10), device=dev)
    boxes = torch.empty((F, 4), dtype=torch.int32, device=dev)
    chunks = torch.empty((F,), dtype=torch.int32, device=dev)
    keys = torch.full((H, W), EMPTY_KEY, dtype=torch.int64, device=dev)
    setup(vc, faces, *K, W, H, cam.near, cam.far, 0, planes, boxes, chunks)
    ends = torch.cumsum(chunks, 0, dtype=torch.int64)
    total = int(ends[-1])
    cf = torch.repeat_interleave(torch.arange(F, dtype=torch.int32, device=dev), chunks, output_size=total)
    first = (ends - chunks).to(torch.int32)
    fid = torch.empty((H, W), dtype=torch.int32, device=dev)
    bary = torch.empty((H, W, 3), device=dev)
    depth = torch.empty((H, W), device=dev)
    res = []
    timed("whole rasterize()", lambda: rasterize(vc, faces, K, W, H, near=cam.near, far=cam.far), sync, results=res)
    timed("keys fill", lambda: keys.fill_(EMPTY_KEY), sync, results=res)
    timed("setup kernel", lambda: setup(vc, faces, *K, W, H, cam.near, cam.far, 0, planes, boxes, chunks), sync,
          results=res)
    timed("cumsum + item", lambda: int(torch.cumsum(chunks, 0, dtype=torch.int64)[-1]), sync, results=res)
    timed("repeat_interleave", lambda: torch.repeat_interleave(torch.arange(F, dtype=torch.int32, device=dev), chunks,
                                                              output_size=total), sync, results=res)
    timed("raster kernel", lambda: raster(planes, boxes, cf, first, *K, cam.near, cam.far, keys), sync, results=res)
    timed("resolve kernel", lambda: resolve(keys, planes, *K, EMPTY_KEY, fid, bary, depth), sync, results=res)
    print(f"{F} triangles, {total} chunks of 16 px, {W}x{H}, coverage {(fid >= 0).float().mean():.3f}")
    for label, us in res:
        print(f"{label:>20}: {us:8.1f} us")
    if dev.type == "cuda":
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(20):
                rasterize(vc, faces, K, W, H, near=cam.near, far=cam.far)
            sync()
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=12))


if __name__ == "__main__":
    main()
