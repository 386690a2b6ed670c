"""Where a splat frame's time goes, on the GPU: per-stage wall time (synchronised) and a torch.profiler table of
device kernels (Taichi's kernels show up there too, through CUPTI).

    NGFX_ARCH=cuda python tools/profile_splat.py --case a --garden .bench-data/test_garden.npz
"""

import argparse
import time

import torch

from ngfx.cli.bench_splat_scenes import dynamic_scene, garden_scene, random_scene
from ngfx.kernels import runtime
from ngfx.kernels.splat import eval_sh, map_to_tiles, project_gaussians, rasterize_gaussians
from ngfx.splatting.render import camera_tensors, render_gaussians


def stage_times(model, cam, repeats=30):
    """Median synchronised wall time of each forward stage run on its own, in ms."""
    T, centre = camera_tensors(cam, model.device)
    intr, W, H = (cam.fx, cam.fy, cam.cx, cam.cy), cam.width, cam.height
    state = {}

    def project():
        state["p"] = project_gaussians(model.means, model.log_scales, model.quats, model.opacities, T, intr, W, H)

    def sh():
        state["c"] = eval_sh(model.means, model.sh_coeffs, centre, model.sh_degree,
                             visible=(state["p"].radii > 0).any(1))

    def tiles():
        p = state["p"]
        state["t"] = map_to_tiles(p.means2d, p.radii, p.depths, W, H)

    def raster():
        p, t = state["p"], state["t"]
        rasterize_gaussians(p.means2d, p.conics, p.opacities, state["c"], p.depths, t.tile_ranges, t.point_ids, W, H)

    out = {}
    for name, fn in (("project", project), ("sh", sh), ("tiles", tiles), ("raster", raster)):
        times = []
        for _ in range(repeats):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            times.append(1e3 * (time.perf_counter() - t0))
        out[name] = sorted(times)[len(times) // 2]
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", default="a", choices="abc")
    parser.add_argument("--garden", default=None)
    args = parser.parse_args()
    runtime.init("cuda")
    dev = runtime.device()
    model, cams, what = {"a": lambda: garden_scene(args.garden, dev), "b": lambda: random_scene(dev),
                         "c": lambda: dynamic_scene(dev)}[args.case]()
    cam = cams[0]
    print(what)
    if args.case != "c":
        print("forward stages, ms:", {k: round(v, 3) for k, v in stage_times(model, cam).items()})
    model.requires_grad_()
    cot = torch.randn(cam.height, cam.width, 3, device=dev)

    def step(backward: bool):
        out = render_gaussians(model, cam, time=0.5)
        if backward:
            (out.rgb * cot).sum().backward()

    for backward in (False, True):
        for _ in range(10):
            step(backward)
        torch.cuda.synchronize()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                                torch.profiler.ProfilerActivity.CUDA]) as prof:
            for _ in range(10):
                step(backward)
            torch.cuda.synchronize()
        print(f"=== {'forward+backward' if backward else 'forward'} x10 ===")
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=18, max_name_column_width=60))


if __name__ == "__main__":
    main()
