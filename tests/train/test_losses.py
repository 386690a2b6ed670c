"""L1, SSIM (separable, against a direct 2-D convolution and an explicit loop), the 3DGS loss and PSNR."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from ngfx.train.losses import gaussian_window, l1_loss, l1_ssim_loss, psnr, ssim
from tests.helpers import assert_close


def images(seed, shape=(2, 3, 20, 24), dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=dtype)
    y = (x + 0.2 * torch.randn(shape, generator=g, dtype=dtype)).clamp(0, 1)
    return x, y


def ssim_direct(x, y, size=11, sigma=1.5):
    """INRIA's formulation: one 2-D convolution with the outer-product window, zero padding, per channel."""
    c = x.shape[1]
    t = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-t**2 / (2 * sigma**2))
    g = g / g.sum()
    w = torch.outer(g, g).to(x.dtype).expand(c, 1, size, size)
    conv = lambda img: F.conv2d(img, w, padding=size // 2, groups=c)
    mu1, mu2 = conv(x), conv(y)
    s1, s2, s12 = conv(x * x) - mu1**2, conv(y * y) - mu2**2, conv(x * y) - mu1 * mu2
    c1, c2 = 0.01**2, 0.03**2
    return (((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2))).mean()


def ssim_at_pixel(x, y, i, j, size=11, sigma=1.5):
    """SSIM at one pixel of one-channel images by explicit weighted sums (samples outside are zero)."""
    t = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-t**2 / (2 * sigma**2))
    w = torch.outer(g, g) / g.sum() ** 2
    pad = lambda img: F.pad(img, (size // 2,) * 4)
    px, py = pad(x)[i:i + size, j:j + size], pad(y)[i:i + size, j:j + size]
    mx, my = (w * px).sum(), (w * py).sum()
    vx, vy, cxy = (w * px * px).sum() - mx**2, (w * py * py).sum() - my**2, (w * px * py).sum() - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_separable_ssim_matches_direct_convolution(seed):
    x, y = images(seed)
    assert_close(ssim(x, y), ssim_direct(x, y), rtol=1e-12, atol=1e-12, msg=f"seed {seed}")
    x32, y32 = x.float(), y.float()
    assert_close(ssim(x32, y32), ssim_direct(x32, y32).float(), rtol=1e-5, atol=1e-6, msg=f"f32 seed {seed}")


def test_ssim_map_matches_explicit_sums_at_centre_and_border():
    x, y = images(3, shape=(1, 1, 16, 16))
    ssim_map = ssim(x, y, reduce=False)
    for i, j in [(8, 8), (0, 0), (15, 3), (2, 15)]:
        expected = ssim_at_pixel(x[0, 0], y[0, 0], i, j)
        assert_close(ssim_map[0, 0, i, j], expected, rtol=1e-10, msg=f"pixel {i},{j}")


def test_ssim_properties():
    x, y = images(4)
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-12)
    assert ssim(x, y).item() == pytest.approx(ssim(y, x).item(), abs=1e-14)
    g = torch.Generator().manual_seed(5)
    noise = torch.randn(x.shape, generator=g, dtype=x.dtype)
    values = [ssim(x, x + s * noise).item() for s in (0.0, 0.01, 0.05, 0.2, 0.5)]
    assert all(a > b for a, b in itertools.pairwise(values)), values
    assert -1 <= values[-1] < 0.5


def test_ssim_layouts_agree_and_shape_errors():
    x, y = images(6, shape=(1, 3, 12, 14))
    hwc = lambda t: t[0].permute(1, 2, 0)
    assert_close(ssim(hwc(x), hwc(y)), ssim(x, y), rtol=1e-14)
    with pytest.raises(ValueError, match="shapes differ"):
        ssim(x, y[..., :-1])
    with pytest.raises(ValueError, match=r"\[H, W, C\]"):
        ssim(x[0, 0], y[0, 0])


def test_ssim_and_loss_are_differentiable():
    x, y = images(7, shape=(1, 2, 6, 7))
    x.requires_grad_(True)
    y.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: ssim(a, b), (x, y))
    assert torch.autograd.gradcheck(lambda a: l1_ssim_loss(a, y, ssim_weight=0.3), (x,))
    assert torch.autograd.grad(ssim(x, y), x)[0].abs().max() > 1e-3, "degenerate: zero gradient"


def test_l1_ssim_loss_weights():
    x, y = images(8)
    assert_close(l1_ssim_loss(x, y), 0.8 * (x - y).abs().mean() + 0.2 * (1 - ssim_direct(x, y)), rtol=1e-12)
    assert_close(l1_ssim_loss(x, y, ssim_weight=0.0), l1_loss(x, y), rtol=0)
    assert_close(l1_ssim_loss(x, y, ssim_weight=1.0), 1 - ssim(x, y), rtol=1e-14)
    with pytest.raises(ValueError):
        l1_ssim_loss(x, y, ssim_weight=1.5)


def test_psnr_and_window():
    target = torch.zeros(4, 5, 3)
    assert psnr(target + 0.1, target).item() == pytest.approx(20.0, abs=1e-4)
    expected = 20 * math.log10(510)
    assert psnr(target + 0.5, target, data_range=255.0).item() == pytest.approx(expected, abs=1e-3)
    assert psnr(target, target).item() == math.inf
    w = gaussian_window(11, 1.5)
    assert w.shape == (11,) and w.sum().item() == pytest.approx(1.0) and w.argmax().item() == 5
    assert torch.equal(w, w.flip(0))


def test_l1_ssim_loss_takes_the_fused_map_on_cuda_only(arch):
    from ngfx.kernels import runtime

    g = torch.Generator().manual_seed(8)
    target = torch.rand((19, 23, 3), generator=g, dtype=torch.float64)
    pred = target + 0.1 * torch.randn(target.shape, generator=g, dtype=torch.float64)
    target, pred = target.to(runtime.device()), pred.to(runtime.device()).requires_grad_()
    chosen = l1_ssim_loss(pred, target, ssim_weight=0.3)
    torch_ops = l1_ssim_loss(pred, target, ssim_weight=0.3, ops="reference")
    assert ("L1Ssim" in str(chosen.grad_fn.next_functions)) == (arch == "cuda"), arch
    assert "L1Ssim" not in str(torch_ops.grad_fn.next_functions)
    assert abs(float(chosen) - float(torch_ops)) < 1e-12 and float(chosen) > 0.01
    (a,), (b,) = torch.autograd.grad(chosen, pred), torch.autograd.grad(torch_ops, pred)
    assert float((a - b).abs().max()) < 1e-12 * max(1.0, float(b.abs().max())) and float(b.abs().max()) > 0
