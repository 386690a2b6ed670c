"""The multi-resolution hash-grid encoding (REFERENCE 4.1) against its torch reference and direct formulas."""

import math

import numpy as np
import pytest
import torch

from ngfx.kernels import runtime
from ngfx.kernels.encodings import HashGridConfig, encode_hashgrid
from ngfx.kernels.encodings.hashgrid import reference as ref
from ngfx.kernels.encodings.hashgrid.kernels import make_hashgrid_funcs
from tests.helpers import assert_close

# Small grids with dense and hashed levels (checked in test_dense_and_hashed_levels_match_index_formulas).
CFG2 = HashGridConfig(n_dims=2, n_levels=4, n_features=4, log2_table_size=8, base_resolution=4,
                      finest_resolution=32)  # res 4, 8, 16, 32: dense, dense, dense (256 = T), hashed
CFG3 = HashGridConfig(n_dims=3, n_levels=3, n_features=2, log2_table_size=9, base_resolution=4,
                      finest_resolution=16)  # res 4, 8, 16: dense, dense, hashed
CFG4 = HashGridConfig(n_dims=4, n_levels=3, n_features=1, log2_table_size=8, base_resolution=2,
                      finest_resolution=8)  # res 2, 4, 8: dense, dense, hashed
CONFIGS = {2: CFG2, 3: CFG3, 4: CFG4}
SEEDS = [0, 1, 2]


def inputs(cfg: HashGridConfig, seed: int, n: int = 200, dtype=torch.float64):
    """Random points in [0, 1]^D, the first rows on the faces (0 and 1 exactly), and a U(-1, 1) table."""
    g = torch.Generator().manual_seed(seed)
    points = torch.rand((n, cfg.n_dims), generator=g, dtype=torch.float64)
    points[:4, 0], points[4:8, -1] = 1.0, 0.0
    points[8] = 1.0
    table = torch.rand((cfg.n_entries, cfg.n_features), generator=g, dtype=torch.float64) * 2 - 1
    return points.to(dtype), table.to(dtype)


def f32_atol(cfg: HashGridConfig, table: torch.Tensor) -> float:
    """What float32 may cost the output of inputs already rounded to float32, on any machine (with or
    without fused multiply-adds): p = scale x + 0.5 is off by up to ulp(p) <= (max scale + 1) 2^-23 per
    axis, which moves an interpolated value by at most 2 max|table| per axis; plus the sum's own rounding."""
    return cfg.n_dims * 2 * float(table.detach().abs().max()) * (max(cfg.level_scales()) + 1) * 2.0**-23 + 2.0**-20


def exact(points32: torch.Tensor, table32: torch.Tensor, cfg: HashGridConfig) -> torch.Tensor:
    """The float64 reference on the float32 (float16) inputs as the kernel sees them."""
    return ref.encode_hashgrid(points32.double(), table32.double(), cfg)


def grads(fn, cfg, points, table, cot):
    """(d/dpoints, d/dtable) of (fn(points, table, cfg) * cot).sum()."""
    points, table = points.detach().requires_grad_(), table.detach().requires_grad_()
    return torch.autograd.grad((fn(points, table, cfg) * cot).sum(), (points, table))


@pytest.mark.parametrize("n_dims", [2, 3, 4])
def test_forward_matches_reference(cpu_arch, n_dims):
    cfg = CONFIGS[n_dims]
    for seed in SEEDS:
        points, table = inputs(cfg, seed)
        got, want = encode_hashgrid(points, table, cfg), ref.encode_hashgrid(points, table, cfg)
        assert got.shape == (points.shape[0], cfg.n_outputs) and got.dtype == torch.float64
        assert_close(got, want, rtol=1e-12, atol=1e-13, msg=f"D={n_dims} seed {seed}")
        assert float(want.abs().mean()) > 0.1  # not an empty encoding
        assert float((want[1:] - want[:-1]).abs().amax(dim=1).min()) > 1e-6  # every point differs from the next
        p32, t32 = points.float(), table.float()
        got32 = encode_hashgrid(p32, t32, cfg)
        assert got32.dtype == torch.float32
        assert_close(got32.double(), exact(p32, t32, cfg), rtol=0, atol=f32_atol(cfg, t32),
                     msg=f"f32 D={n_dims} seed {seed}")


@pytest.mark.parametrize("n_dims", [2, 3, 4])
def test_backward_matches_reference(cpu_arch, n_dims):
    cfg = CONFIGS[n_dims]
    for seed in SEEDS:
        points, table = inputs(cfg, seed)
        cot = torch.randn((points.shape[0], cfg.n_outputs), generator=torch.Generator().manual_seed(seed + 100),
                          dtype=torch.float64)
        got = grads(encode_hashgrid, cfg, points, table, cot)
        want = grads(ref.encode_hashgrid, cfg, points, table, cot)
        for name, a, b in zip(("points", "table"), got, want):
            assert float(b.abs().max()) > 1e-2, f"{name} gradient is empty"
            assert_close(a, b, rtol=1e-10, atol=1e-11, msg=f"grad {name} D={n_dims} seed {seed}")
        # float32 table gradient (continuous in the points, so no cell-boundary flips): sums of weight * cot
        # whose weights float32 moves by up to D ulp(p) each (f32_atol's argument)
        got32 = grads(encode_hashgrid, cfg, points.float(), table.float(), cot.float())[1]
        want32 = grads(ref.encode_hashgrid, cfg, points.float().double(), table, cot)[1]
        assert got32.dtype == torch.float32
        assert_close(got32.double(), want32, rtol=1e-5, atol=1e-4, msg=f"f32 grad table seed {seed}")


def test_one_sided_gradients(cpu_arch):
    points, table = inputs(CFG3, 3)
    cot = torch.randn((points.shape[0], CFG3.n_outputs), generator=torch.Generator().manual_seed(4),
                      dtype=torch.float64)
    want_points, want_table = grads(ref.encode_hashgrid, CFG3, points, table, cot)
    p = points.clone().requires_grad_()
    (g,) = torch.autograd.grad((encode_hashgrid(p, table, CFG3) * cot).sum(), p)  # table needs no grad
    assert_close(g, want_points, rtol=1e-10, atol=1e-11, msg="points only")
    t = table.clone().requires_grad_()
    (g,) = torch.autograd.grad((encode_hashgrid(points, t, CFG3) * cot).sum(), t)  # points need no grad
    assert_close(g, want_table, rtol=1e-10, atol=1e-11, msg="table only")
    assert encode_hashgrid(points[:0], t, CFG3).shape == (0, CFG3.n_outputs)


@pytest.mark.parametrize("cfg", [CFG3, HashGridConfig(n_dims=2, n_levels=2, n_features=2, log2_table_size=4,
                                                      base_resolution=3, finest_resolution=9, smoothstep=True)])
def test_gradcheck_f64(cpu_arch, cfg):
    g = torch.Generator().manual_seed(5)
    points = (0.05 + 0.9 * torch.rand((6, cfg.n_dims), generator=g, dtype=torch.float64)).requires_grad_()
    table = torch.randn((cfg.n_entries, cfg.n_features), generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda p, t: encode_hashgrid(p, t, cfg), (points, table), eps=1e-6,
                                    atol=1e-6)


def direct_row(cfg: HashGridConfig, level: int, v) -> int:
    """The REFERENCE 4.1 index of integer vertex v, written out with numpy uint32 arithmetic."""
    res, size, dense = cfg.level_resolutions()[level], cfg.level_sizes()[level], cfg.level_dense()[level]
    with np.errstate(over="ignore"):
        if dense:
            idx = sum(np.uint32(c) * np.uint32(res**d) for d, c in enumerate(v))
        else:
            idx = np.uint32(0)
            for c, prime in zip(v, (1, 2654435761, 805459861, 3674653429)):
                idx ^= np.uint32(c) * np.uint32(prime)
    return int(idx) % size + cfg.level_offsets()[level]


def direct_encoding(cfg: HashGridConfig, table: torch.Tensor, x) -> list[float]:
    """Multilinear interpolation of integer-vertex rows (direct_row), one point, as Python floats."""
    out = []
    for level, scale in enumerate(cfg.level_scales()):
        p = [scale * min(max(c, 0.0), 1.0) + 0.5 for c in x]
        cell, w = [math.floor(c) for c in p], [c - math.floor(c) for c in p]
        acc = [0.0] * cfg.n_features
        for corner in range(1 << cfg.n_dims):
            bits = [(corner >> d) & 1 for d in range(cfg.n_dims)]
            weight = math.prod(wd if b else 1 - wd for wd, b in zip(w, bits))
            row = table[direct_row(cfg, level, [c + b for c, b in zip(cell, bits)])].tolist()
            acc = [a + weight * r for a, r in zip(acc, row)]
        out += acc
    return out


def test_dense_and_hashed_levels_match_index_formulas(cpu_arch):
    assert CFG3.level_resolutions() == (4, 8, 16) and CFG3.level_dense() == (True, True, False)
    assert CFG3.level_sizes() == (64, 512, 512) and CFG3.level_offsets() == (0, 64, 576, 1088)
    assert CFG2.level_dense() == (True, True, True, False) and CFG4.level_dense() == (True, True, False)
    for cfg in (CFG2, CFG3, CFG4):
        _, table = inputs(cfg, 6)
        hand = [[0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.5, 0.5], [0.9, 0.05, 0.77, 0.31], [1.0, 0.0, 0.61, 1.0]]
        points = torch.tensor([h[:cfg.n_dims] for h in hand], dtype=torch.float64)
        want = torch.tensor([direct_encoding(cfg, table, h[:cfg.n_dims]) for h in hand], dtype=torch.float64)
        assert_close(encode_hashgrid(points, table, cfg), want, rtol=1e-12, atol=1e-13, msg=f"D={cfg.n_dims}")


def test_default_config_layout_matches_reference_numbers():
    cfg = HashGridConfig()
    assert abs(cfg.per_level_scale - 1.38191) < 1e-5
    assert cfg.level_resolutions()[:6] == (16, 23, 31, 43, 59, 81) and cfg.level_resolutions()[-1] == 2048
    assert cfg.level_dense() == (True,) * 5 + (False,) * 11  # NeRF levels 0-4 dense
    assert sum(cfg.level_sizes()[:5]) == 330952 and cfg.n_entries * cfg.n_features == 12196240  # ~0.33M, ~12.2M
    assert cfg.n_outputs == 32 and len(cfg.level_offsets()) == 17
    one = HashGridConfig(n_levels=1, finest_resolution=16)
    assert one.per_level_scale == 1.0 and one.level_scales() == (15.0,)


def test_upper_edge_wraps_in_dense_levels(cpu_arch):
    # one dense level, res 4, T_l 64: x = 1 gives p = 3.5, so the upper vertex 4 = res wraps (tcnn)
    cfg = HashGridConfig(n_dims=3, n_levels=1, n_features=1, log2_table_size=9, base_resolution=4,
                         finest_resolution=4)
    assert cfg.level_resolutions() == (4,) and cfg.level_dense() == (True,) and cfg.level_sizes() == (64,)
    points = torch.tensor([[1.0, 0.2, 0.3], [1.0, 1.0, 1.0]], dtype=torch.float64)
    table = torch.zeros((64, 1), dtype=torch.float64, requires_grad=True)
    cot = torch.tensor([[0.7], [-1.3]], dtype=torch.float64)
    (g,) = torch.autograd.grad((encode_hashgrid(points, table, cfg) * cot).sum(), table)
    # point 0: g = (3, 1, 1), w = (0.5, 0.1, 0.4); vertex (4, 1, 1) lands on row 4 + 4 + 16 = row of (0, 2, 1)
    assert abs(float(g[24, 0]) - 0.7 * 0.5 * 0.9 * 0.6) < 1e-12
    # point 1: vertex (4, 4, 4) -> (4 + 16 + 64) mod 64 = 20, weight 1/8
    assert abs(float(g[20, 0]) - (-1.3 / 8)) < 1e-12
    (want,) = torch.autograd.grad((ref.encode_hashgrid(points, table, cfg) * cot).sum(), table)
    assert_close(g, want, rtol=1e-12, atol=1e-14)


def test_hash_collisions_accumulate(cpu_arch):
    cfg = HashGridConfig(n_dims=2, n_levels=1, n_features=2, log2_table_size=4, base_resolution=16,
                         finest_resolution=16)  # res 16, 256 vertices > 16 rows: hashed
    assert cfg.level_dense() == (False,)
    verts = [(a, b) for a in range(1, 15) for b in range(1, 15)]
    rows = {}
    for v in verts:
        rows.setdefault(direct_row(cfg, 0, v), []).append(v)
    row, (v1, v2) = next((r, vs[:2]) for r, vs in rows.items() if len(vs) >= 2)
    scale = cfg.level_scales()[0]
    points = torch.tensor([[(c - 0.5) / scale for c in v] for v in (v1, v2)], dtype=torch.float64)  # on vertices
    table = torch.randn((16, 2), generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    out = encode_hashgrid(points, table, cfg)
    assert_close(out[0], out[1], rtol=1e-9, atol=1e-9, msg=f"{v1} and {v2} share row {row}")
    assert_close(out[0], table[row], rtol=1e-9, atol=1e-9)
    cot = torch.randn((2, 2), generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    (g,) = grads(encode_hashgrid, cfg, points, table, cot)[1:]
    assert_close(g[row], cot[0] + cot[1], rtol=1e-9, atol=1e-9, msg="collided row")
    assert_close(g, grads(ref.encode_hashgrid, cfg, points, table, cot)[1], rtol=1e-12, atol=1e-13)


def test_out_of_range_points_are_clamped(cpu_arch):
    points, table = inputs(CFG3, 9, n=40)
    outside = points.clone()
    outside[:10, 0] = torch.linspace(-0.5, -0.01, 10, dtype=torch.float64)
    outside[10:20, 1] = torch.linspace(1.01, 3.0, 10, dtype=torch.float64)
    clamped = outside.clamp(0, 1)
    assert_close(encode_hashgrid(outside, table, CFG3), encode_hashgrid(clamped, table, CFG3), rtol=0, atol=0)
    cot = torch.randn((40, CFG3.n_outputs), generator=torch.Generator().manual_seed(10), dtype=torch.float64)
    got = grads(encode_hashgrid, CFG3, outside, table, cot)
    want = grads(ref.encode_hashgrid, CFG3, outside, table, cot)
    assert float(got[0][:10, 0].abs().max()) == 0 and float(got[0][10:20, 1].abs().max()) == 0
    assert float(got[0][:10, 1:].abs().min()) > 0  # the in-range coordinates keep their gradient
    assert_close(got[0], want[0], rtol=1e-10, atol=1e-11, msg="points")
    assert_close(got[1], want[1], rtol=1e-10, atol=1e-11, msg="table")


def test_smoothstep(cpu_arch):
    cfg = HashGridConfig(n_dims=3, n_levels=3, n_features=2, log2_table_size=9, base_resolution=4,
                         finest_resolution=16, smoothstep=True)
    points, table = inputs(cfg, 11)
    got, want = encode_hashgrid(points, table, cfg), ref.encode_hashgrid(points, table, cfg)
    assert_close(got, want, rtol=1e-12, atol=1e-13)
    assert float((got - encode_hashgrid(points, table, CFG3)).abs().max()) > 1e-2  # not the linear weights
    cot = torch.randn_like(got)
    for name, a, b in zip(("points", "table"), grads(encode_hashgrid, cfg, points, table, cot),
                          grads(ref.encode_hashgrid, cfg, points, table, cot)):
        assert_close(a, b, rtol=1e-10, atol=1e-11, msg=f"smoothstep grad {name}")


def test_float16_table(cpu_arch):
    cfg = HashGridConfig(n_dims=3, n_levels=3, n_features=8, log2_table_size=9, base_resolution=4,
                         finest_resolution=16)
    points, table = inputs(cfg, 12, dtype=torch.float32)
    half = table.half().requires_grad_()
    got = encode_hashgrid(points, half, cfg)
    assert got.dtype == torch.float32
    # the same f16 values accumulated in f32: as exact as an f32 table holding them
    atol = f32_atol(cfg, table)
    assert_close(got.detach().double(), exact(points, half.detach(), cfg), rtol=0, atol=atol)
    # against the f32 table: f16 rounding of |values| <= 1 is <= 2^-11, and the weights sum to 1
    assert float((got.detach() - encode_hashgrid(points, table, cfg)).abs().max()) <= 2.0**-11 + 2 * atol
    cot = torch.randn_like(got)
    (g,) = torch.autograd.grad((got * cot).sum(), half)
    assert g.dtype == torch.float16
    want = grads(ref.encode_hashgrid, cfg, points, table, cot)[1]  # f32 gradient; f16 keeps 11 bits of it
    assert_close(g.float(), want, rtol=2e-3, atol=1e-6)


def test_mixed_dtypes(cpu_arch):
    points, table = inputs(CFG3, 13, n=30)
    for p, t in ((points, table.float()), (points.float(), table)):
        t = t.clone().requires_grad_()
        out = encode_hashgrid(p, t, CFG3)
        assert out.dtype == torch.float32
        assert_close(out.double(), exact(p.float(), t.detach().float(), CFG3), rtol=0, atol=f32_atol(CFG3, t),
                     msg=f"{p.dtype} points, {t.dtype} table")
        (g,) = torch.autograd.grad((out * torch.randn_like(out)).sum(), t)
        assert g.dtype == t.dtype


def test_config_and_input_validation(cpu_arch):
    bad = [{"n_levels": 0}, {"n_levels": 33}, {"n_dims": 1}, {"n_dims": 5}, {"n_features": 3},
           {"log2_table_size": 3}, {"log2_table_size": 25}, {"base_resolution": 0},
           {"base_resolution": 64, "finest_resolution": 32}, {"n_levels": 2.0}, {"smoothstep": 1},
           {"n_dims": True}]
    for kwargs in bad:
        with pytest.raises(ValueError, match="HashGridConfig: ") as err:
            HashGridConfig(**kwargs)
        assert "\n" not in str(err.value) and next(iter(kwargs)) in str(err.value), kwargs
    with pytest.raises(TypeError):
        HashGridConfig(3)  # keyword-only
    points, table = inputs(CFG3, 14, n=10)
    with pytest.raises(ValueError, match="points must be"):
        encode_hashgrid(points[:, :2], table, CFG3)
    with pytest.raises(ValueError, match="table must be"):
        encode_hashgrid(points, table[:-1], CFG3)
    with pytest.raises(ValueError, match="float32 or float64"):
        encode_hashgrid(points.half(), table, CFG3)


def test_encode_func_for_fused_kernels(cpu_arch):
    """`make_hashgrid_funcs(...).encode`, all levels of one point in one thread, as a fused kernel uses it."""
    ti = runtime.taichi()
    lib = make_hashgrid_funcs(CFG3, "f16")
    vec_d, vec_o = ti.types.vector(3, ti.f32), ti.types.vector(CFG3.n_outputs, ti.f32)

    @ti.kernel
    def encode_all(points: ti.types.ndarray(vec_d, ndim=1), table: lib.table_type,
                   out: ti.types.ndarray(vec_o, ndim=1)):
        for i in range(points.shape[0]):
            out[i] = lib.encode(table, points[i])

    points, table = inputs(CFG3, 15, n=64, dtype=torch.float32)
    table = table.half()
    out = torch.empty((64, CFG3.n_outputs))
    encode_all(points, table, out)
    assert_close(out, encode_hashgrid(points, table, CFG3), rtol=0, atol=f32_atol(CFG3, table.float()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64])
def test_forward_on_every_backend(arch, dtype):
    points, table = inputs(CFG3, 16, n=100)
    points = points.to(torch.float64 if dtype == torch.float64 else torch.float32)
    table = table.to(dtype)
    dev = runtime.device()
    got = encode_hashgrid(points.to(dev), table.to(dev), CFG3).cpu()
    atol = 1e-12 if dtype == torch.float64 else f32_atol(CFG3, table)
    assert_close(got.double(), exact(points, table, CFG3), rtol=0, atol=atol, msg=f"{arch} {dtype}")
