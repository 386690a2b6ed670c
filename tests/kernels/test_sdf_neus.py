"""The NeuS opacity kernel (forward and hand-written backward) against its torch reference."""

import pytest
import torch

from ngfx.kernels import runtime
from ngfx.kernels.sdf import neus_alpha
from ngfx.kernels.sdf.neus import reference as ref
from tests.helpers import assert_close

RATIOS = (0.0, 0.5, 1.0)


def sections(seed: int, n: int, dtype=torch.float64):
    """SDF near the surface, cos on both sides of 0 and past +-1 (|grad f| != 1), kinks avoided by 1e-3."""
    g = torch.Generator().manual_seed(seed)
    sdf = torch.randn(n, generator=g, dtype=torch.float64) * 0.1
    cos = torch.rand(n, generator=g, dtype=torch.float64) * 2.4 - 1.2
    cos = torch.where((cos.abs() < 1e-3) | ((cos - 1).abs() < 1e-3), cos + 3e-3, cos)
    deltas = torch.rand(n, generator=g, dtype=torch.float64) * 0.1 + 1e-3
    return sdf.to(dtype), cos.to(dtype), deltas.to(dtype)


def grads(out, inputs, cot):
    return torch.autograd.grad((out * cot).sum(), inputs)


@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("seed", [0, 1])
def test_forward_and_backward_match_reference(cpu_arch, seed, ratio):
    sdf, cos, deltas = (x.requires_grad_() for x in sections(seed, 300))
    inv_s = torch.tensor(25.0, dtype=torch.float64, requires_grad=True)
    inputs = (sdf, cos, deltas, inv_s)
    got = neus_alpha(*inputs, cos_anneal_ratio=ratio)
    want = ref.neus_alpha(*inputs, cos_anneal_ratio=ratio)
    assert_close(got, want, rtol=1e-12, atol=1e-14, msg=f"seed {seed} ratio {ratio}")
    assert float(want.detach().max()) > 0.1, "all sections transparent"
    cot = torch.randn(got.shape, generator=torch.Generator().manual_seed(100 + seed), dtype=torch.float64)
    for name, a, b in zip(("sdf", "cos", "deltas", "inv_s"), grads(got, inputs, cot), grads(want, inputs, cot)):
        assert float(b.abs().max()) > 1e-3, f"{name}: zero gradient (seed {seed}, ratio {ratio})"
        assert_close(a, b, rtol=1e-10, atol=1e-12, msg=f"grad {name} seed {seed} ratio {ratio}")


@pytest.mark.parametrize("ratio", RATIOS)
def test_clamp_branches_and_per_sample_inv_s(cpu_arch, ratio):
    sdf, cos, deltas = sections(2, 60)
    inv_s = torch.full((60,), 10.0, dtype=torch.float64)
    cos[:40] = -cos[:40].abs() - 0.2  # entering: iter_cos < 0 at every ratio
    deltas[:10] = -0.3  # negative lengths: Phi(f_prev) < Phi(f_next), the ratio < 0 -> clamped to 0
    inv_s[10:20] = -10.0  # a negative sharpness: Phi decreasing, clamped to 0 as well
    sdf[20:25], inv_s[20:25] = -1.0, 800.0  # deep inside: Phi(f_next) underflows, alpha exactly 1
    inv_s[25:] = torch.linspace(5.0, 60.0, 35, dtype=torch.float64)
    inputs = tuple(x.requires_grad_() for x in (sdf, cos, deltas, inv_s))
    got = neus_alpha(*inputs, cos_anneal_ratio=ratio)
    want = ref.neus_alpha(*inputs, cos_anneal_ratio=ratio)
    assert_close(got, want, rtol=1e-12, atol=1e-14, msg=f"ratio {ratio}")
    assert float(got[:20].abs().max()) == 0.0, "lower clamp"
    assert bool((got[20:25] == 1.0).all()), "upper bound"
    assert float(got[25:].max()) > 0.1 and float(got[25:].min()) > 0.0
    cot = torch.randn(60, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    for name, a, b in zip(("sdf", "cos", "deltas", "inv_s"), grads(got, inputs, cot), grads(want, inputs, cot)):
        assert_close(a, b, rtol=1e-10, atol=1e-12, msg=f"grad {name} ratio {ratio}")
        assert float(a[:20].abs().max()) == 0.0, f"{name}: gradient through the lower clamp"
        assert float(a[25:].abs().max()) > 1e-3, f"{name}: zero gradient off the clamps"


@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("shared_inv_s", [True, False])
def test_gradcheck_f64(cpu_arch, ratio, shared_inv_s):
    sdf, cos, deltas = sections(3, 12)
    deltas[:2] = -0.2  # two clamped sections, well away from the bound
    inv_s = torch.tensor(8.0, dtype=torch.float64) if shared_inv_s else torch.linspace(2, 20, 12, dtype=torch.float64)
    inputs = tuple(x.clone().requires_grad_() for x in (sdf, cos, deltas, inv_s))
    assert torch.autograd.gradcheck(lambda *xs: neus_alpha(*xs, cos_anneal_ratio=ratio), inputs, eps=1e-7,
                                    atol=1e-7)


def test_sign_convention(cpu_arch):
    """A ray entering the surface (cos < 0) at the zero crossing is nearly opaque; leaving it (cos > 0) at
    ratio 1 gives eps / (Phi(f) + eps) only; the relaxed ratio 0 still gives it some opacity."""
    sdf = torch.zeros(2, dtype=torch.float64)
    cos = torch.tensor([-1.0, 1.0], dtype=torch.float64)
    deltas = torch.full((2,), 0.1, dtype=torch.float64)
    alpha = neus_alpha(sdf, cos, deltas, 50.0)
    assert float(alpha[0]) == pytest.approx(1 - torch.sigmoid(torch.tensor(-2.5)).item() / torch.sigmoid(
        torch.tensor(2.5)).item(), rel=1e-6)
    assert float(alpha[1]) == pytest.approx(ref.EPS / (0.5 + ref.EPS), rel=1e-9)
    relaxed = neus_alpha(sdf, torch.tensor([-1.0, 0.5], dtype=torch.float64), deltas, 50.0, cos_anneal_ratio=0.0)
    assert float(relaxed[0]) == pytest.approx(float(alpha[0]), rel=1e-12)  # cos = -1: both slopes are -1
    assert 0.3 < float(relaxed[1]) < 0.9  # iter_cos = -(1 - 0.5) / 2


def test_float32_and_bad_input(cpu_arch):
    sdf, cos, deltas = sections(4, 200, torch.float32)
    inv_s = torch.tensor(30.0, requires_grad=True)
    got = neus_alpha(sdf, cos, deltas, inv_s, cos_anneal_ratio=0.5)
    assert got.dtype == torch.float32
    want = ref.neus_alpha(sdf.double(), cos.double(), deltas.double(), inv_s.double(), cos_anneal_ratio=0.5)
    assert_close(got.double(), want, rtol=1e-4, atol=1e-5)
    (g32,) = torch.autograd.grad(got.sum(), inv_s)  # a float32 scalar parameter gets a float32 scalar gradient
    assert g32.shape == () and g32.dtype == torch.float32 and float(g32.abs()) > 0
    assert neus_alpha(sdf[:0], cos[:0], deltas[:0], inv_s).shape == (0,)
    with pytest.raises(ValueError, match="one shape"):
        neus_alpha(sdf, cos[:-1], deltas, inv_s)
    with pytest.raises(ValueError, match="inv_s"):
        neus_alpha(sdf, cos, deltas, inv_s.detach().expand(3))
    with pytest.raises(ValueError, match="cos_anneal_ratio"):
        neus_alpha(sdf, cos, deltas, inv_s, cos_anneal_ratio=1.5)
    with pytest.raises(ValueError, match="dtype"):
        neus_alpha(sdf, cos.double(), deltas, inv_s)


def test_forward_on_every_backend(arch):
    sdf, cos, deltas = sections(5, 500, torch.float32)
    dev = runtime.device()
    got = neus_alpha(sdf.to(dev), cos.to(dev), deltas.to(dev), torch.tensor(40.0, device=dev),
                     cos_anneal_ratio=0.3).cpu()
    want = ref.neus_alpha(sdf.double(), cos.double(), deltas.double(), 40.0, cos_anneal_ratio=0.3)
    assert float(want.max()) > 0.1
    assert_close(got.double(), want, rtol=1e-4, atol=1e-5, msg=arch)
