"""The fused 3DGS loss map (L1 + SSIM, one launch each way) against its torch reference."""

import pytest
import torch

from ngfx.kernels import runtime
from ngfx.kernels.image import l1_ssim_map
from ngfx.kernels.image import reference as ref
from tests.helpers import assert_close


def images(seed: int, h: int, w: int, c: int = 3, dtype=torch.float64):
    """A prediction near a target (SSIM well inside (0, 1)), equal at some pixels (|x - y| has no slope)."""
    g = torch.Generator().manual_seed(seed)
    target = torch.rand((h, w, c), generator=g, dtype=torch.float64)
    pred = (target + 0.2 * torch.randn((h, w, c), generator=g, dtype=torch.float64)).clamp(0, 1)
    pred[:2, :3] = target[:2, :3]
    return pred.to(dtype), target.to(dtype)


@pytest.mark.parametrize("size", [(20, 27), (3, 4), (11, 16)])  # (3, 4): smaller than the 11 x 11 window
def test_forward_and_backward_match_reference(cpu_arch, size):
    pred, target = images(1, *size)
    pred.requires_grad_()
    got, want = l1_ssim_map(pred, target, ssim_weight=0.3), ref.l1_ssim_map(pred, target, ssim_weight=0.3)
    assert_close(got, want, rtol=1e-10, atol=1e-12)
    assert float(want.detach().abs().min()) > 0 and float(want.detach().max()) > 0.05  # not an empty map
    cot = torch.randn(got.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    (g_got,) = torch.autograd.grad((got * cot).sum(), pred)
    (g_want,) = torch.autograd.grad((want * cot).sum(), pred)
    assert float(g_want.abs().max()) > 1e-3
    assert_close(g_got, g_want, rtol=1e-9, atol=1e-11)


def test_l1_only_and_ssim_only_branches(cpu_arch):
    pred, target = images(3, 14, 9)
    pred.requires_grad_()
    for w in (0.0, 1.0):
        got, want = l1_ssim_map(pred, target, ssim_weight=w), ref.l1_ssim_map(pred, target, ssim_weight=w)
        assert_close(got, want, rtol=1e-10, atol=1e-12, msg=f"weight {w}")
        cot = torch.randn(got.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
        (a,) = torch.autograd.grad((got * cot).sum(), pred)
        (b,) = torch.autograd.grad((want * cot).sum(), pred)
        assert_close(a, b, rtol=1e-9, atol=1e-11, msg=f"weight {w}")
        if w == 0.0:  # equal pixels: zero slope of |x - y|, as torch's abs
            assert float(a[:2, :3].abs().max()) == 0


def test_gradcheck_f64(cpu_arch):
    pred, target = images(5, 5, 6, 2)
    pred = (pred + 1e-3).requires_grad_()  # away from the kinks of |x - y|
    assert torch.autograd.gradcheck(lambda p: l1_ssim_map(p, target, ssim_weight=0.4), (pred,), eps=1e-6,
                                    atol=1e-6)


def test_float32_no_grad_and_bad_input(cpu_arch):
    pred, target = images(6, 16, 12, dtype=torch.float32)
    got = l1_ssim_map(pred, target)  # no gradient wanted: no partials stored
    assert not got.requires_grad
    assert_close(got.double(), ref.l1_ssim_map(pred.double(), target.double()), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="one shape"):
        l1_ssim_map(pred, target[:-1])
    with pytest.raises(ValueError, match="ssim_weight"):
        l1_ssim_map(pred, target, ssim_weight=1.5)


def test_forward_on_every_backend(arch):
    pred, target = images(7, 13, 18, dtype=torch.float32)
    dev = runtime.device()
    got = l1_ssim_map(pred.to(dev), target.to(dev)).cpu()
    assert_close(got.double(), ref.l1_ssim_map(pred.double(), target.double()), rtol=1e-5, atol=1e-6, msg=arch)
