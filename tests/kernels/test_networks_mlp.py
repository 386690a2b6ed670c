"""The fully fused MLP (one launch each way) against its torch reference, on the portable CPU path and, via the
`arch` fixture, on the shared-memory path (Vulkan here; CUDA on the GPU machine)."""

import dataclasses
import itertools

import pytest
import torch

from ngfx.kernels import runtime
from ngfx.kernels.networks import MLPConfig, fused_mlp
from ngfx.kernels.networks.mlp import reference as ref
from ngfx.kernels.networks.mlp.kernels import BYTES, SHARED_BUDGET, compute_dtype_name, forward_plan
from ngfx.kernels.networks.mlp.kernels_bwd import backward_plan
from tests.helpers import assert_close

# Every width, 1 to 8 hidden layers, every output activation, feature counts off multiples of 16 and the limits.
CONFIGS = [
    MLPConfig(n_inputs=3, n_outputs=1, width=16, n_hidden_layers=1),
    MLPConfig(n_inputs=19, n_outputs=5, width=32, n_hidden_layers=2, output_activation="sigmoid"),
    MLPConfig(n_inputs=35, n_outputs=17, width=64, n_hidden_layers=3, output_activation="exp"),
    MLPConfig(n_inputs=7, n_outputs=3, width=128, n_hidden_layers=8, output_activation="softplus"),
    MLPConfig(n_inputs=128, n_outputs=128, width=16, n_hidden_layers=2),
]
TINY = MLPConfig(n_inputs=3, n_outputs=2, width=16, n_hidden_layers=2, output_activation="softplus")
NERF = MLPConfig(n_inputs=32, n_outputs=16, width=64, n_hidden_layers=2, output_activation="sigmoid")


def make_params(cfg: MLPConfig, seed: int, dtype=torch.float64, last_gain: float = 1.0) -> torch.Tensor:
    """He-scaled weights (pre-activations of order one at every depth), the output layer times last_gain."""
    g = torch.Generator().manual_seed(seed)
    layers = [torch.randn(o * i, generator=g, dtype=torch.float64) * (2.0 / i) ** 0.5 for o, i in cfg.layer_shapes()]
    layers[-1] = layers[-1] * last_gain
    return torch.cat(layers).to(dtype)


def make_inputs(cfg: MLPConfig, seed: int, n: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + 1000)
    return torch.randn((n, cfg.n_inputs), generator=g, dtype=torch.float64).to(dtype)


def grads(fn, x, p, cfg, cot):
    """(y, grad_x, grad_p) of (fn(x, p) * cot).sum() for fresh leaves x, p."""
    x, p = x.detach().requires_grad_(), p.detach().requires_grad_()
    y = fn(x, p, cfg)
    return (y.detach(), *torch.autograd.grad((y * cot).sum(), (x, p)))


def pre_activations(x, p, cfg):
    """z of every hidden layer (reference math, float64)."""
    h, zs = x.double(), []
    for w in ref.layer_weights(p.double(), cfg)[:-1]:
        zs.append(h @ w.T)
        h = torch.relu(zs[-1])
    return zs


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"w{c.width}h{c.n_hidden_layers}{c.output_activation}")
def test_forward_and_backward_match_reference_f64(cpu_arch, cfg):
    for seed in (0, 1):
        x, p = make_inputs(cfg, seed, 37), make_params(cfg, seed)
        want = ref.fused_mlp(x, p, cfg)
        assert_close(fused_mlp(x, p, cfg), want, rtol=1e-10, atol=1e-12, msg=f"inference seed {seed}")
        cot = torch.randn(want.shape, generator=torch.Generator().manual_seed(seed + 7), dtype=torch.float64)
        got, want = grads(fused_mlp, x, p, cfg, cot), grads(ref.fused_mlp, x, p, cfg, cot)
        for name, a, b in zip(("y", "grad_x", "grad_p"), got, want):
            assert float(b.abs().max()) > 1e-2, f"{name} degenerate, seed {seed}"
            assert_close(a, b, rtol=1e-9, atol=1e-11, msg=f"{name} seed {seed}")
        z = torch.cat([v.flatten() for v in pre_activations(x, p, cfg)])
        assert 0.2 < float((z <= 0).double().mean()) < 0.8, f"both ReLU branches, seed {seed}"
        assert float(want[2].std()) > 1e-3 and float(want[0].std()) > 1e-3, f"outputs vary, seed {seed}"


def test_float32_matches_float64_reference(cpu_arch):
    cfg = CONFIGS[3]  # 8 hidden layers of 128: the longest sums
    x, p = make_inputs(cfg, 2, 40), make_params(cfg, 2)
    cot = torch.randn((40, cfg.n_outputs), generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    got = grads(fused_mlp, x.float(), p.float(), cfg, cot.float())
    want = grads(ref.fused_mlp, x.float().double(), p.float().double(), cfg, cot.float().double())
    for name, a, b in zip(("y", "grad_x", "grad_p"), got, want):
        assert_close(a.double(), b, rtol=1e-4, atol=1e-5 * float(b.abs().max()), msg=name)


@pytest.mark.parametrize("cfg", [TINY, CONFIGS[0]], ids=["softplus", "none"])
def test_gradcheck_f64(cpu_arch, cfg):
    x, p = make_inputs(cfg, 3, 6).requires_grad_(), make_params(cfg, 3).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: fused_mlp(a, b, cfg), (x, p), eps=1e-6, atol=1e-6)


def test_activation_branches_and_relu_kinks(cpu_arch):
    """Softplus past 20 (linear), below -37 (e^z under float64's epsilon: log1p(u) = u) and between; rows of
    zeros put every pre-activation exactly at the ReLU kink, where the slope is 0 as in torch."""
    x, p = make_inputs(TINY, 4, 40), make_params(TINY, 4, last_gain=150.0)
    x[:5] = 0.0
    z = ref.fused_mlp(x, p, dataclasses.replace(TINY, output_activation="none"))
    assert float(z.max()) > 20 and float(z.min()) < -40 and bool(((z > -5) & (z < 5)).any()), z
    cot = torch.randn(z.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    got, want = grads(fused_mlp, x, p, TINY, cot), grads(ref.fused_mlp, x, p, TINY, cot)
    for name, a, b in zip(("y", "grad_x", "grad_p"), got, want):
        assert_close(a, b, rtol=1e-9, atol=1e-11, msg=name)
    assert float(got[1][:5].abs().max()) == 0.0 and float(got[1][5:].abs().max()) > 1e-2


def test_float16_within_stated_tolerances(cpu_arch):
    """float16 against the reference's float16 contract (same roundings: a few ulps of the output scale) and
    against float32. Forward: 5e-3 of the output scale. Gradients: ReLU masks flip where a pre-activation is
    within float16 rounding of 0, which changes a row's input gradient by a whole term, so they are bounded in
    relative L2 norm (grad_x 0.1, grad_p 0.05; a flipped mask per ~1000 units) rather than per element."""
    x, p = make_inputs(NERF, 5, 300).clamp(-2, 2), make_params(NERF, 5)
    cot = torch.randn((300, NERF.n_outputs), generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    half = grads(fused_mlp, x.half(), p.half(), NERF, cot.half())
    half_ref = grads(ref.fused_mlp, x.half(), p.half(), NERF, cot.half())
    single = grads(fused_mlp, x.float(), p.float(), NERF, cot.float())
    for name, a, b, c, bound in zip(("y", "grad_x", "grad_p"), half, half_ref, single, (5e-3, 0.1, 0.05)):
        assert a.dtype == torch.float16, name
        scale = float(c.abs().max())
        assert_close(a.double(), b.double(), rtol=4e-3, atol=4e-3 * scale, msg=f"{name} vs reference")
        err = float((a.double() - c.double()).norm() / c.double().norm())
        worst = float((a.double() - c.double()).abs().max()) / scale
        assert (worst if name == "y" else err) < bound, f"{name} float16 vs float32: L2 {err:.3g}, max {worst:.3g}"


def test_config_limits_and_layout():
    with pytest.raises(ValueError, match="^width must be 16, 32, 64 or 128, got 48$"):
        MLPConfig(n_inputs=3, n_outputs=1, width=48)
    with pytest.raises(ValueError, match="n_hidden_layers"):
        MLPConfig(n_inputs=3, n_outputs=1, n_hidden_layers=0)
    with pytest.raises(ValueError, match="output_activation"):
        MLPConfig(n_inputs=3, n_outputs=1, output_activation="tanh")
    for field in ("n_inputs", "n_outputs"):
        for bad in (0, 129):
            with pytest.raises(ValueError, match=field):
                MLPConfig(**{"n_inputs": 3, "n_outputs": 1, field: bad})
    cfg = MLPConfig(n_inputs=5, n_outputs=3, width=16, n_hidden_layers=3)
    assert cfg.layer_shapes() == [(16, 5), (16, 16), (16, 16), (3, 16)]
    assert cfg.layer_offsets() == [0, 80, 336, 592] and cfg.n_params == 640


def test_bad_arguments_and_empty_batch(cpu_arch):
    cfg = CONFIGS[0]
    x, p = make_inputs(cfg, 0, 4), make_params(cfg, 0)
    with pytest.raises(ValueError, match="inputs must be"):
        fused_mlp(x[:, :2], p, cfg)
    with pytest.raises(ValueError, match="params must be"):
        fused_mlp(x, p[:-1], cfg)
    with pytest.raises(ValueError, match="share a dtype"):
        fused_mlp(x.float(), p, cfg)
    empty = x[:0].clone().requires_grad_()
    y = fused_mlp(empty, p, cfg)
    assert y.shape == (0, 1)
    (g,) = torch.autograd.grad(y.sum(), empty)
    assert g.shape == (0, cfg.n_inputs)


def test_shared_memory_plans_fit_every_config():
    """The CUDA and Vulkan block geometry for every width, dtype and feature count at the limits: buffers
    within the backend's budget, tiles covering every output (the GPU path cannot run on this machine)."""
    for arch, dt, width, n_in, n_out in itertools.product(SHARED_BUDGET, BYTES, (16, 32, 64, 128), (1, 35, 128),
                                                          (1, 17, 128)):
        cfg = MLPConfig(n_inputs=n_in, n_outputs=n_out, width=width, n_hidden_layers=2)
        fwd, bwd = forward_plan(cfg, dt, arch), backward_plan(cfg, dt, arch)
        size, c_size = BYTES[dt], BYTES[compute_dtype_name(dt)]
        fwd_bytes = (fwd.channels[0] * fwd.pitch + max(width, n_out) * fwd.chunk_pitch) * size
        bwd_bytes = bwd.channels[0] * bwd.pitch * c_size + (bwd.channels[1] * bwd.pitch + bwd.chunk
                                                           * bwd.chunk_pitch) * size
        assert max(fwd_bytes, bwd_bytes) <= SHARED_BUDGET[arch], (cfg, dt, arch)
        for plan, dims in ((fwd, [o for o, _ in cfg.layer_shapes()]), (bwd, [i for _, i in cfg.layer_shapes()])):
            for tile, d in zip(plan.row_tiles, dims):
                assert tile.rg * tile.tr == plan.rows and tile.rg * tile.og == plan.threads, (cfg, tile)
                assert d <= tile.og * tile.to <= plan.channels[0] and tile.tr * tile.to <= 64, (cfg, tile)
        for tile, (o, i) in zip(bwd.grad_tiles, cfg.layer_shapes()):
            assert tile.ot * tile.to >= o and tile.kt * tile.tk >= i
            assert tile.ot * tile.kt <= tile.passes * bwd.threads, (cfg, tile)


# Shared path stress: several blocks and a partial one, weight chunks, padded tiles, grad-tile passes.
BACKEND_CFG = MLPConfig(n_inputs=20, n_outputs=5, width=128, n_hidden_layers=3, output_activation="softplus")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64], ids=["f32", "f16", "f64"])
def test_forward_and_backward_on_every_backend(arch, dtype):
    if arch == "vulkan" and dtype == torch.float64:
        pytest.skip("Vulkan (SPIR-V GLSL.std.450) has no 64-bit exp, which the softplus output needs")
    cfg = NERF if dtype == torch.float16 else BACKEND_CFG
    n, dev = 150, runtime.device()
    x, p = make_inputs(cfg, 8, n).clamp(-2, 2), make_params(cfg, 8)
    cot = torch.randn((n, cfg.n_outputs), generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    want = grads(ref.fused_mlp, x.to(dtype), p.to(dtype), cfg, cot.to(dtype))
    tol = {torch.float32: 1e-5, torch.float16: 4e-3, torch.float64: 1e-10}[dtype]
    with torch.no_grad():
        y = fused_mlp(x.to(dtype).to(dev), p.to(dtype).to(dev), cfg).cpu()
    assert_close(y.double(), want[0].double(), rtol=tol, atol=tol * float(want[0].abs().max()), msg=arch)
    got = grads(fused_mlp, x.to(dtype).to(dev), p.to(dtype).to(dev), cfg, cot.to(dtype).to(dev))
    for name, a, b in zip(("y", "grad_x", "grad_p"), got, want):
        scale = float(b.abs().max())
        assert scale > 1e-2, name
        assert_close(a.cpu().double(), b.double(), rtol=tol, atol=tol * scale, msg=f"{arch} {name}")
    # one gradient at a time (the kernels' flags): the same values
    xd, pd = x.to(dtype).to(dev), p.to(dtype).to(dev).requires_grad_()
    (gp,) = torch.autograd.grad((fused_mlp(xd, pd, cfg) * cot.to(dtype).to(dev)).sum(), pd)
    assert_close(gp.cpu().double(), got[2].cpu().double(), rtol=tol, atol=tol * float(gp.abs().max()), msg=arch)
