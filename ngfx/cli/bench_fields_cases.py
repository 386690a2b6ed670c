"""The cases of `ngfx bench fields` (bench_fields.py has the method): inputs, timed callables, rows."""

import time

import torch

__all__ = ["ceilings", "encoding_rows", "mlp_rows", "gia_rows", "timed"]

_BUDGET_S = 2.0  # slow baselines get fewer repeats: about this many seconds each, at least 3


def timed(fn, args, sync) -> float | None:
    """Median milliseconds of fn() (bench.median_ms after one untimed call that also sizes the repeats);
    None when fn raises (e.g. a torch.compile failure), which is printed."""
    from ngfx.cli.bench import median_ms

    try:
        sync()
        start = time.perf_counter()
        fn()
        sync()
        first = time.perf_counter() - start
        repeats = max(3, min(args.repeats, int(_BUDGET_S / max(first, 1e-6))))
        return median_ms(fn, repeats=repeats, warmup=min(args.warmup, repeats), sync=sync)[0]
    except Exception as err:  # noqa: BLE001 - a baseline that cannot run is a row entry, not a crash
        print(f"  (skipped: {type(err).__name__}: {str(err).splitlines()[0][:160]})", flush=True)
        return None


def _ratio(a, b):
    return None if a is None or b is None else a / b


def ceilings(dev, args, sync) -> dict:
    """GB/s of a device copy from DRAM (1 GiB, scaled) and of a cache-resident copy (16 MiB, repeated x16);
    a copy moves each byte twice (read + write)."""
    out = {}
    for name, nbytes, reps in (("dram_copy_gbs", int(2**30 * args.scale), 1), ("l2_copy_gbs", 2**24, 16)):
        a = torch.empty(max(nbytes // 4, 1), dtype=torch.float32, device=dev)
        b = torch.empty_like(a)

        def copy():
            for _ in range(reps):
                b.copy_(a)
        ms = timed(copy, args, sync)
        out[name] = None if ms is None else 2 * a.numel() * 4 * reps / (ms * 1e-3) / 1e9
    return out


def _backward(fn, leaves, cot):
    def step():
        for leaf in leaves:
            leaf.grad = None
        torch.autograd.backward(fn(), cot)
    return step


def _compiled(fn):
    compiled = torch.compile(fn, dynamic=False)
    return lambda *a: compiled(*a)


def encoding_rows(dev, args, sync):
    from ngfx.kernels.encodings import HashGridConfig, encode_hashgrid
    from ngfx.kernels.encodings.hashgrid import reference

    cfg = HashGridConfig(n_dims=3, n_levels=16, n_features=2, log2_table_size=19, base_resolution=16,
                         finest_resolution=2048)
    g = torch.Generator(device="cpu").manual_seed(0)
    table = ((torch.rand((cfg.n_entries, cfg.n_features), generator=g) * 2 - 1) * 1e-4).to(dev).requires_grad_()
    eager = lambda p, t: reference.encode_hashgrid(p, t, cfg)  # noqa: E731
    fns = {"ngfx": lambda p, t: encode_hashgrid(p, t, cfg), "torch": eager, "compiled": _compiled(eager)}
    for log2 in range(18, 24):
        n = max(1024, int(2**log2 * args.scale))
        points = torch.rand((n, 3), generator=g).to(dev)
        cot = torch.randn((n, cfg.n_outputs), generator=g).to(dev)
        row = {"case": "enc", "points": n}
        for name, fn in fns.items():
            with torch.no_grad():
                row[f"{name}_fwd_ms"] = timed(lambda: fn(points, table), args, sync)
            row[f"{name}_fb_ms"] = timed(_backward(lambda: fn(points, table), [table], cot), args, sync)
        row["ngfx_fwd_gpts"] = None if row["ngfx_fwd_ms"] is None else n / row["ngfx_fwd_ms"] / 1e6
        # corner reads: L levels x 2^D corners x F features x 4 bytes per point
        gathered = n * cfg.n_levels * 2**cfg.n_dims * cfg.n_features * 4
        row["ngfx_fwd_gather_gbs"] = None if row["ngfx_fwd_ms"] is None else gathered / row["ngfx_fwd_ms"] / 1e6
        for name in ("torch", "compiled"):
            row[f"fwd_x_{name}"] = _ratio(row[f"{name}_fwd_ms"], row["ngfx_fwd_ms"])
            row[f"fb_x_{name}"] = _ratio(row[f"{name}_fb_ms"], row["ngfx_fb_ms"])
        yield row


def _torch_mlp(cfg, params, dev):
    layers = []
    for k, ((out_f, in_f), offset) in enumerate(zip(cfg.layer_shapes(), cfg.layer_offsets())):
        linear = torch.nn.Linear(in_f, out_f, bias=False, device=dev)
        with torch.no_grad():
            linear.weight.copy_(params[offset:offset + out_f * in_f].view(out_f, in_f))
        layers += [linear] + ([torch.nn.ReLU()] if k < cfg.n_hidden_layers else [])
    return torch.nn.Sequential(*layers)


def mlp_rows(dev, args, sync):
    from ngfx.kernels.networks import MLPConfig, fused_mlp

    cfg = MLPConfig(n_inputs=32, n_outputs=16, width=64, n_hidden_layers=2)
    g = torch.Generator(device="cpu").manual_seed(1)
    params = (torch.randn(cfg.n_params, generator=g) * 0.15).to(dev)
    net = _torch_mlp(cfg, params, dev)
    leaves_torch = list(net.parameters())

    def bf16(x):
        with torch.autocast(dev.type, dtype=torch.bfloat16):
            return net(x)
    for log2 in (20, 22):
        batch = max(1024, int(2**log2 * args.scale))
        x32 = torch.rand((batch, cfg.n_inputs), generator=g).to(dev)
        cot = torch.randn((batch, cfg.n_outputs), generator=g).to(dev)
        row = {"case": "mlp", "batch": batch}
        for dtype, name in ((torch.float32, "ngfx_f32"), (torch.float16, "ngfx_f16")):
            x, p = x32.to(dtype).requires_grad_(), params.to(dtype).requires_grad_()
            with torch.no_grad():
                row[f"{name}_fwd_ms"] = timed(lambda: fused_mlp(x, p, cfg), args, sync)
            row[f"{name}_fb_ms"] = timed(_backward(lambda: fused_mlp(x, p, cfg), [x, p], cot.to(dtype)), args, sync)
        x = x32.clone().requires_grad_()
        for name, fn in (("torch_f32", net), ("torch_bf16", bf16), ("compiled_f32", _compiled(net)),
                         ("compiled_bf16", _compiled(bf16))):
            with torch.no_grad():
                row[f"{name}_fwd_ms"] = timed(lambda: fn(x), args, sync)
            row[f"{name}_fb_ms"] = timed(_backward(lambda: fn(x), [x, *leaves_torch], cot), args, sync)
        best = [row[k] for k in row if k.endswith("_fb_ms") and not k.startswith("ngfx") and row[k] is not None]
        row["fb_best_torch_over_ngfx_f32"] = _ratio(min(best) if best else None, row["ngfx_f32_fb_ms"])
        row["fb_best_torch_over_ngfx_f16"] = _ratio(min(best) if best else None, row["ngfx_f16_fb_ms"])
        yield row


def gia_rows(dev, args, sync):
    from ngfx.kernels.encodings import HashGridConfig, encode_hashgrid
    from ngfx.kernels.networks import MLPConfig, fused_mlp
    from ngfx.kernels.networks.field import render_field_image

    width, height = max(64, int(3840 * args.scale ** 0.5)), max(64, int(2160 * args.scale ** 0.5))
    grid = HashGridConfig(n_dims=2, n_levels=16, n_features=2, log2_table_size=24, base_resolution=16,
                          finest_resolution=max(3840, 2160) // 2)
    mlp = MLPConfig(n_inputs=grid.n_outputs, n_outputs=3, width=64, n_hidden_layers=2, output_activation="sigmoid")
    g = torch.Generator(device="cpu").manual_seed(2)
    params = (torch.randn(mlp.n_params, generator=g) * 0.15).to(dev)
    table32 = ((torch.rand((grid.n_entries, grid.n_features), generator=g) * 2 - 1) * 0.5).to(dev)
    v, u = torch.meshgrid((torch.arange(height, device=dev) + 0.5) / height,
                          (torch.arange(width, device=dev) + 0.5) / width, indexing="ij")
    uv = torch.stack([u, v], -1).reshape(-1, 2).contiguous()
    region = (0.0, 0.0, 1.0, 1.0)
    for dtype in (torch.float32, torch.float16):
        table = table32.to(dtype)
        row = {"case": "gia", "size": f"{width}x{height}", "table": str(dtype).split(".")[-1]}
        with torch.no_grad():
            row["fused_ms"] = timed(lambda: render_field_image(table, params, grid, mlp, region, width, height),
                                    args, sync)
            row["separate_ms"] = timed(lambda: fused_mlp(encode_hashgrid(uv, table, grid), params, mlp), args, sync)
        row["fused_fps"] = None if row["fused_ms"] is None else 1e3 / row["fused_ms"]
        row["fused_x_separate"] = _ratio(row["separate_ms"], row["fused_ms"])
        yield row
