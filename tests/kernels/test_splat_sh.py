"""SH colour (Taichi, hand-written backward) against its torch reference, plus independent basis checks."""

import math

import numpy as np
import pytest
import torch

from ngfx.kernels import runtime
from ngfx.kernels.splat.sh import eval_sh as _eval_sh
from ngfx.kernels.splat.sh import eval_sh_4d as _eval_sh_4d
from ngfx.kernels.splat.sh import reference
from tests.helpers import assert_close

SEEDS = [0, 1, 2]
DURATION = 2.5


def on_device(*tensors):
    dev = runtime.device()
    return [None if t is None else t.to(dev) for t in tensors]


def eval_sh(*args, visible=None):
    means, coeffs, cam = on_device(*args[:3])
    return _eval_sh(means, coeffs, cam, *args[3:], visible=on_device(visible)[0]).cpu()


def eval_sh_4d(means, coeffs, cam, degree, dt, duration, degree_t, visible=None):
    means, coeffs, cam, dt, visible = on_device(means, coeffs, cam, dt, visible)
    return _eval_sh_4d(means, coeffs, cam, degree, dt, duration, degree_t, visible=visible).cpu()


def make_inputs(seed: int, n: int, rows: int, channels: int = 3, dtype=torch.float64):
    """Means around a camera, coefficients large enough that some channels clamp, a mask, time offsets."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(n, 3, generator=g, dtype=torch.float64) * 2.0
    coeffs = torch.randn(n, rows, channels, generator=g, dtype=torch.float64) * 0.7
    cam = torch.tensor([0.3, -0.2, 0.5], dtype=torch.float64)
    visible = torch.rand(n, generator=g) > 0.25
    dt = torch.randn(n, generator=g, dtype=torch.float64) * DURATION
    return [t.to(dtype) if t.is_floating_point() else t for t in (means, coeffs, cam, visible, dt)]


@pytest.mark.parametrize("seed", SEEDS)
def test_forward_matches_reference(arch, seed):
    dtypes = [torch.float32] if arch == "vulkan" else [torch.float32, torch.float64]
    for dtype in dtypes:
        means, coeffs, cam, visible, dt = make_inputs(seed, 300, 20, dtype=dtype)  # 20 rows: 4 beyond degree 3
        tol = {"rtol": 1e-5, "atol": 2e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
        for degree in range(4):
            for mask in (None, visible):
                out = eval_sh(means, coeffs, cam, degree, visible=mask)
                ref = reference.eval_sh(means, coeffs, cam, degree, visible=mask)
                assert_close(out, ref, **tol, msg=f"{arch} seed {seed} {dtype} degree {degree}")
                assert (ref == 0).any() and (ref > 0.6).any(), "inputs must hit both sides of the clamp"
        for degree, degree_t in ((3, 0), (1, 2), (2, 1)):
            out = eval_sh_4d(means, coeffs, cam, degree, dt, DURATION, degree_t, visible=visible)
            ref = reference.eval_sh_4d(means, coeffs, cam, degree, dt, DURATION, degree_t, visible=visible)
            assert_close(out, ref, **tol, msg=f"{arch} seed {seed} {dtype} 4d {degree} {degree_t}")


def grads(fn, inputs, cotangent):
    """Gradients of (fn(*inputs) * cotangent).sum() for every input tensor that requires grad (zeros if unused)."""
    wrt = [t for t in inputs if isinstance(t, torch.Tensor) and t.requires_grad]
    return torch.autograd.grad((fn(*inputs) * cotangent).sum(), wrt, allow_unused=True, materialize_grads=True)


@pytest.mark.parametrize("seed", SEEDS)
def test_backward_matches_reference(cpu_arch, seed):
    means, coeffs, cam, visible, dt = make_inputs(seed, 200, 17, channels=4, dtype=torch.float32)
    for t in (means, coeffs, cam, dt):
        t.requires_grad_(True)
    cotangent = torch.randn(200, 4, generator=torch.Generator().manual_seed(100 + seed))
    for degree in range(4):
        args = (means, coeffs, cam, degree)
        kernel = grads(lambda *a: eval_sh(*a, visible=visible), args, cotangent)
        ref = grads(lambda *a: reference.eval_sh(*a, visible=visible), args, cotangent)
        for name, a, b in zip(("means", "coeffs", "cam"), kernel, ref):
            assert_close(a, b, rtol=1e-4, atol=1e-5, msg=f"seed {seed} degree {degree} grad {name}")
        assert kernel[1].abs().sum() > 0 and (degree == 0 or kernel[0].abs().sum() > 0)
    for degree, degree_t in ((1, 1), (3, 0), (0, 2)):
        args = (means, coeffs[:, : (degree_t + 1) * (degree + 1) ** 2 + 1], cam, degree, dt, DURATION, degree_t)
        kernel = grads(lambda *a: eval_sh_4d(*a, visible=visible), args, cotangent)
        ref = grads(lambda *a: reference.eval_sh_4d(*a, visible=visible), args, cotangent)
        for name, a, b in zip(("means", "coeffs", "cam", "dt"), kernel, ref):
            assert_close(a, b, rtol=1e-4, atol=1e-5, msg=f"seed {seed} 4d {degree} {degree_t} grad {name}")
        assert degree_t == 0 or kernel[3].abs().sum() > 0


def pre_clamp(means, coeffs, cam, degree, dt, degree_t):
    """sum_k coeffs Y_k + 0.5 before the clamp, built from the reference basis (4D; degree_t 0 is 3D)."""
    spatial = reference.sh_basis(reference.view_directions(means, cam), degree)
    temporal = torch.cos(2 * math.pi / DURATION * dt[:, None] * torch.arange(degree_t + 1, dtype=dt.dtype))
    basis = (temporal[:, :, None] * spatial[:, None, :]).reshape(means.shape[0], -1)
    return torch.einsum("nk,nkc->nc", basis, coeffs[:, : basis.shape[1]]) + 0.5


def test_gradcheck_float64(cpu_arch):
    """Tiny f64 inputs; both clamp branches present but away from the kink (finite differences)."""
    means, coeffs, cam, visible, dt = make_inputs(5, 8, 16, channels=2)
    coeffs[:3, 0, 0] = -6.0  # a dark DC term: these channels clamp
    cases = [(lambda m, c, p: _eval_sh(m, c, p, 3, visible=visible), (means, coeffs, cam), (3, 0)),
             (lambda m, c, p: _eval_sh(m, c, p, 1), (means, coeffs, cam), (1, 0)),
             (lambda m, c, p, d: _eval_sh_4d(m, c, p, 1, d, DURATION, 2, visible=visible),
              (means, coeffs[:, :13], cam, dt), (1, 2))]
    for fn, inputs, (degree, degree_t) in cases:
        pre = pre_clamp(inputs[0], inputs[1], cam, degree, dt, degree_t)
        assert (pre < -1e-3).any() and (pre > 1e-3).any() and (pre.abs() > 1e-4).all(), pre
        inputs = [t.clone().requires_grad_(True) for t in inputs]
        assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-6)


def kernel_basis(dirs: torch.Tensor) -> torch.Tensor:
    """[N, 16] Y_k read back from the kernel: coefficient 0.1 on row k of channel k gives 0.5 + 0.1 Y_k."""
    coeffs = 0.1 * torch.eye(16, dtype=dirs.dtype).expand(dirs.shape[0], 16, 16).contiguous()
    colors = eval_sh(dirs * 3.0 + 1.0, coeffs, torch.ones(3, dtype=dirs.dtype), 3)  # distance 3 from the camera
    assert (colors > 0).all()  # |Y_k| < 5 everywhere: nothing clamped, so the read-back is exact
    return (colors - 0.5) / 0.1


def legendre(l_max: int, x: torch.Tensor) -> dict:
    """Associated Legendre P_l^m(x), m >= 0, with the Condon-Shortley phase, by the standard recurrences."""
    p, s = {}, torch.sqrt(1 - x * x)
    for m in range(l_max + 1):
        p[m, m] = (-1) ** m * math.prod(range(1, 2 * m, 2)) * s**m
        if m < l_max:
            p[m + 1, m] = x * (2 * m + 1) * p[m, m]
        for l in range(m + 2, l_max + 1):
            p[l, m] = ((2 * l - 1) * x * p[l - 1, m] - (l + m - 1) * p[l - 2, m]) / (l - m)
    return p


def spherical_basis(theta: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """[N, 16] real SH from spherical angles, index l^2 + l + m (m = -l..l): an independent formulation."""
    p, out = legendre(3, torch.cos(theta)), []
    for l in range(4):
        for m in range(-l, l + 1):
            k = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - abs(m)) / math.factorial(l + abs(m)))
            trig = 1.0 if m == 0 else math.sqrt(2) * (torch.cos(m * phi) if m > 0 else torch.sin(-m * phi))
            out.append(k * p[l, abs(m)] * trig)
    return torch.stack(out, -1)


def test_basis_matches_spherical_form_and_is_orthonormal(cpu_arch):
    # Gauss-Legendre in cos(theta) times a uniform phi grid integrates products of degree-3 SH exactly.
    nodes, weights = (torch.from_numpy(a) for a in np.polynomial.legendre.leggauss(8))
    phi = torch.arange(16, dtype=torch.float64) * (2 * math.pi / 16) + 0.1
    theta = torch.acos(nodes)[:, None].expand(8, 16).reshape(-1)
    phi = phi[None, :].expand(8, 16).reshape(-1)
    w = (weights[:, None] * (2 * math.pi / 16)).expand(8, 16).reshape(-1)
    dirs = torch.stack([torch.sin(theta) * torch.cos(phi), torch.sin(theta) * torch.sin(phi), torch.cos(theta)], -1)
    basis = kernel_basis(dirs)
    assert_close(basis, spherical_basis(theta, phi), rtol=1e-9, atol=1e-9, msg="kernel basis vs spherical form")
    gram = basis.T @ (basis * w[:, None])
    assert_close(gram, torch.eye(16, dtype=torch.float64), rtol=0, atol=1e-9, msg="Gram matrix")


def test_temporal_basis(cpu_arch):
    """One DC coefficient per time row n gives 0.5 + 0.2 C0 cos(2 pi n dt / duration); degree_t 0 is 3D."""
    n, dt = 5, torch.tensor([0.0, 0.3, -0.7, 1.25, 2.0], dtype=torch.float64)
    means, cam = torch.randn(n, 3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    for row in range(3):  # degree 0: row n is the DC term of time band n
        coeffs = torch.zeros(n, 3, 1, dtype=torch.float64)
        coeffs[:, row] = 0.2
        out = eval_sh_4d(means, coeffs, cam, 0, dt, DURATION, 2)[:, 0]
        assert_close(out, 0.5 + 0.2 * 0.28209479177387814 * torch.cos(2 * math.pi * row * dt / DURATION),
                     rtol=1e-12, atol=1e-12, msg=f"time band {row}")
    means, coeffs, cam, _visible, dt = make_inputs(4, 30, 16)
    assert_close(eval_sh_4d(means, coeffs, cam, 3, dt, DURATION, 0), eval_sh(means, coeffs, cam, 3), rtol=1e-14,
                 atol=1e-14, msg="degree_t 0 equals 3D")


def test_mask_extra_rows_clamp_and_camera_centre(cpu_arch):
    """Masked rows and ignored coefficient rows get no gradient, clamped channels neither; a mean at the
    camera centre sees the DC term only, with finite gradients; inputs never get a .grad as a side effect."""
    means, coeffs, cam, visible, _ = make_inputs(8, 40, 20)
    means[0] = cam  # exactly at the camera centre
    visible[0] = True
    means.requires_grad_(True)
    coeffs.requires_grad_(True)
    for mask in (visible, visible.to(torch.int32)):
        out = eval_sh(means, coeffs, cam, 2, visible=mask)
        assert (out[~visible] == 0).all() and (out[visible] > 0).any()
        assert_close(out[0], (coeffs[0, 0] * 0.28209479177387814 + 0.5).clamp_min(0).detach(), msg="centre")
        cotangent = torch.randn_like(out)
        g_means, g_coeffs = torch.autograd.grad((out * cotangent).sum(), [means, coeffs])
        assert torch.isfinite(g_means).all() and torch.isfinite(g_coeffs).all()
        assert (g_means[~visible] == 0).all() and (g_coeffs[~visible] == 0).all()
        assert (g_coeffs[:, 9:] == 0).all() and (g_coeffs[visible, :9] != 0).any()
        clamped = (out == 0) & visible[:, None]
        assert clamped.any() and (g_coeffs.transpose(1, 2)[clamped] == 0).all()
    assert means.grad is None and coeffs.grad is None


def test_empty_input(cpu_arch):
    means = torch.zeros(0, 3, requires_grad=True)
    out = eval_sh(means, torch.zeros(0, 16, 3), torch.zeros(3), 3)
    assert out.shape == (0, 3)
