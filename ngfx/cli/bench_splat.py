"""Suite `splat`: ngfx's Gaussian pipeline side by side with gsplat in one process, same Gaussians and cameras.

Cases (issue 3): (a) the garden fixture, (b) 1M random Gaussians at 1080p, (c) 500k 4D Gaussians at
1352x1014 sliced at several t, against "slice in PyTorch (eager), then gsplat". Forward = the whole render
call from raw parameters (activations, projection, SH, tiles, rasterization); forward+backward adds the
backward of (image * fixed random cotangent).sum() to every raw parameter. gsplat runs with packed=False and
packed=True; the faster is the baseline. Parity is PSNR between the two renders on a black background.
"""

import importlib.util
import math

import torch

from ngfx.cli.bench_splat_scenes import dynamic_scene, garden_scene, random_scene

__all__ = ["run", "table"]


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float((a.float().clamp(0, 1) - b.float().clamp(0, 1)).square().mean())
    return float("inf") if mse == 0 else -10.0 * math.log10(mse)


def _leaves(model):
    params = model.parameter_dict()
    for p in params.values():
        p.requires_grad_(True)
    return params


def _fwd_bwd(render, params, cot):
    def step():
        for p in params.values():
            p.grad = None
        rgb = render()
        (rgb * cot).sum().backward()
    return step


def _gsplat_fns(model, cam, packed: bool, slice_time=None):
    """gsplat.rasterization from the same raw parameters (4D: eager torch slicing first, as the 4D codes do)."""
    import gsplat

    from ngfx.kernels.splat.slice4d import reference as slice_ref
    from ngfx.splatting.render import camera_tensors

    dev = model.device
    viewmat = camera_tensors(cam, dev)[0].to(device=dev, dtype=torch.float32)
    K = torch.as_tensor(cam.K, dtype=torch.float32, device=dev)

    def render():
        if slice_time is None:
            means, quats, scales, covars = model.means, model.quats, model.scales, None
            opac, sh = model.opacities, model.sh_coeffs
        else:
            s = slice_ref.slice_gaussians_4d(model.means4, model.log_scales, model.rotations, model.opacities,
                                             slice_time, rotation=model.rotation)
            keep = s.visible
            means, covars, opac, sh = s.means[keep], s.covars[keep], s.opacities[keep], model.sh_coeffs[keep]
            quats = scales = None
        cov = None if covars is None else _full_cov(covars)
        colors, _, meta = gsplat.rasterization(means, quats, scales, opac, sh, viewmat[None], K[None], cam.width,
                                               cam.height, sh_degree=model.sh_degree, packed=packed, covars=cov,
                                               near_plane=cam.near, far_plane=cam.far)
        render.meta = meta
        return colors[0]
    return render


def _full_cov(c6):
    xx, xy, xz, yy, yz, zz = c6.unbind(-1)
    return torch.stack([xx, xy, xz, xy, yy, yz, xz, yz, zz], -1).reshape(-1, 3, 3)


def _time(fn, args, sync):
    from ngfx.cli.bench import median_ms

    torch.cuda.reset_peak_memory_stats() if torch.cuda.is_available() else None
    ms, spread = median_ms(fn, repeats=args.repeats, warmup=args.warmup, sync=sync)
    peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return ms, spread, peak


def _case_rows(case, model, cams, times, args, sync):
    from ngfx.splatting.render import render_gaussians

    rows = []
    params = _leaves(model)
    for ci, cam in enumerate(cams):
        for t in times:
            ours = lambda: render_gaussians(model, cam, time=t).rgb  # noqa: E731
            with torch.no_grad():
                out = render_gaussians(model, cam, time=t)
            cot = torch.randn_like(out.rgb)
            row = {"case": case, "camera": ci, "time": t, "n_intersections": out.n_intersections,
                   "alpha_mean": float(out.alpha.mean())}
            with torch.no_grad():
                row["fwd_ms"], row["fwd_spread_ms"], row["fwd_peak_mib"] = _time(ours, args, sync)
            row["fb_ms"], row["fb_spread_ms"], row["fb_peak_mib"] = _time(_fwd_bwd(ours, params, cot), args, sync)
            if not args.no_gsplat:
                slice_time = t if hasattr(model, "means4") else None
                _gsplat_columns(row, model, cam, slice_time, out.rgb, cot, params, args, sync)
            rows.append(row)
            print(_row_line(row), flush=True)
    return rows


def _gsplat_columns(row, model, cam, slice_time, ours_rgb, cot, params, args, sync):
    best = None
    for packed in (False, True):
        fn = _gsplat_fns(model, cam, packed, slice_time)
        with torch.no_grad():
            ref = fn()
            fwd = _time(fn, args, sync)
        fb = _time(_fwd_bwd(fn, params, cot), args, sync)
        if best is None or fwd[0] + fb[0] < best[1][0] + best[2][0]:
            best = (packed, fwd, fb, ref, fn.meta)
    packed, fwd, fb, ref, meta = best
    row.update(gsplat_packed=packed, gsplat_fwd_ms=fwd[0], gsplat_fwd_peak_mib=fwd[2], gsplat_fb_ms=fb[0],
               gsplat_fb_peak_mib=fb[2], psnr_vs_gsplat=_psnr(ours_rgb, ref),
               gsplat_n_intersections=int(meta["isect_ids"].numel()) if "isect_ids" in meta else None)
    row["fwd_ratio"] = row["fwd_ms"] / fwd[0]
    row["fb_ratio"] = row["fb_ms"] / fb[0]


def run(args):
    from ngfx.kernels import runtime

    dev = runtime.device()
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    if not args.no_gsplat and (dev.type != "cuda" or importlib.util.find_spec("gsplat") is None):
        print("gsplat baseline skipped: it needs the cuda backend and `pip install gsplat==1.5.3`", flush=True)
        args.no_gsplat = True
    s = args.scale
    builders = {
        "a": lambda: (garden_scene(args.garden, dev, s), [None]),
        "b": lambda: (random_scene(dev, int(1_000_000 * s), int(1920 * min(1, 2 * s)) // 2 * 2,
                                   int(1080 * min(1, 2 * s)) // 2 * 2), [None]),
        "c": lambda: (dynamic_scene(dev, int(500_000 * s), int(1352 * min(1, 2 * s)) // 2 * 2,
                                    int(1014 * min(1, 2 * s)) // 2 * 2), [0.25, 0.5, 0.75]),
    }
    rows, described = [], {}
    for case in [c.strip() for c in (args.cases or "a,b,c").split(",") if c.strip()]:
        (model, cams, what), times = builders[case]()
        described[case] = what
        print(f"case {case}: {what}", flush=True)
        rows += _case_rows(case, model, cams, times, args, sync)
    return rows, {"cases": described}


def _row_line(r) -> str:
    line = (f"{r['case']:>2} cam {r['camera']} t={r['time'] if r['time'] is not None else '-':<5} "
            f"isect {r['n_intersections']:>10,}  fwd {r['fwd_ms']:8.3f} ms  fwd+bwd {r['fb_ms']:8.3f} ms")
    if "gsplat_fwd_ms" in r:
        line += (f" | gsplat fwd {r['gsplat_fwd_ms']:8.3f} fwd+bwd {r['gsplat_fb_ms']:8.3f} "
                 f"| ratio {r['fwd_ratio']:.2f} / {r['fb_ratio']:.2f} | PSNR {r['psnr_vs_gsplat']:.1f} dB")
    return line


def table(record) -> str:
    lines = [f"splat bench on {record['arch']} ({record['card']}), commit {record['commit']}"]
    lines += [f"  {k}: {v}" for k, v in record["cases"].items()]
    lines += [_row_line(r) for r in record["rows"]]
    return "\n".join(lines)
