"""Public SH colour: `eval_sh` (3D, REFERENCE 2.2) and `eval_sh_4d` (Yang's spherindrical harmonics, 3.4).

Taichi forward and a hand-written Taichi backward (see kernels.py for the formulas); reference.py is the
torch twin. Differentiable in means (through the view direction), coeffs, cam_position and, in 4D, dt;
not in the degrees, the duration or the mask.
"""

import math

import torch

from ngfx.kernels import runtime
from ngfx.kernels.splat.sh.kernels import make_sh_kernels

__all__ = ["eval_sh", "eval_sh_4d"]


def _kernels(dtype: torch.dtype):
    return make_sh_kernels("f32" if dtype == torch.float32 else "f64", runtime.generation())


def _detached(*tensors):
    return tuple(None if t is None else t.detach() for t in tensors)


class _ShFunction(torch.autograd.Function):
    """Inputs contiguous, on one device and dtype; dt None selects the 3D kernels; mask uint8 or None."""

    @staticmethod
    def forward(ctx, means, coeffs, cam_position, dt, mask, degree, degree_t, duration):
        ctx.save_for_backward(means, coeffs, cam_position, dt)
        # Kernels get detached views: Taichi gives every tensor argument that requires grad a zero .grad
        # (an allocation per call, and a side effect on the caller's tensors that optimizers notice).
        means, coeffs, cam_position, dt = _detached(means, coeffs, cam_position, dt)
        k = _kernels(means.dtype)
        n, c = means.shape[0], coeffs.shape[2]
        nb, omega = (degree + 1) ** 2, 2 * math.pi / duration
        flag, mask_arg = (0, torch.empty((1,), dtype=torch.uint8, device=means.device)) if mask is None else (1, mask)
        colors = torch.empty((n, c), dtype=means.dtype, device=means.device)
        if n:
            if dt is None:
                k.fwd(means, coeffs, cam_position, mask_arg, flag, nb, colors)
            else:
                k.fwd_4d(means, coeffs, cam_position, mask_arg, flag, nb, degree_t + 1, omega, dt, colors)
        ctx.mask_arg, ctx.cfg = mask_arg, (flag, nb, degree_t + 1, omega)
        return colors

    @staticmethod
    def backward(ctx, grad_colors):
        means, coeffs, cam_position, dt = _detached(*ctx.saved_tensors)
        mask_arg, (flag, nb, nt, omega) = ctx.mask_arg, ctx.cfg
        k = _kernels(means.dtype)
        grad_coeffs = torch.empty_like(coeffs)
        grad_means4 = torch.empty((means.shape[0], 3 if dt is None else 4), dtype=means.dtype, device=means.device)
        if means.shape[0]:
            args = (means, coeffs, cam_position, mask_arg, flag, nb)
            if dt is None:
                k.bwd(*args, grad_colors.detach().contiguous(), grad_coeffs, grad_means4)
            else:
                k.bwd_4d(*args, nt, omega, dt, grad_colors.detach().contiguous(), grad_coeffs, grad_means4)
        grad_means = grad_means4[:, :3]
        grad_cam = -grad_means.sum(0) if ctx.needs_input_grad[2] else None
        grad_dt = None if dt is None else grad_means4[:, 3]
        return grad_means, grad_coeffs, grad_cam, grad_dt, None, None, None, None


def _prepare(means, coeffs, cam_position, degree, n_rows, visible):
    """Boundary checks; returns contiguous (means, coeffs, cam_position, mask) on means' device."""
    runtime.ensure_init()
    assert means.ndim == 2 and means.shape[1] == 3, means.shape
    assert coeffs.ndim == 3 and coeffs.shape[0] == means.shape[0], (coeffs.shape, means.shape)
    assert means.dtype in (torch.float32, torch.float64) and coeffs.dtype == means.dtype, (means.dtype, coeffs.dtype)
    assert 0 <= degree <= 3, degree
    assert coeffs.shape[1] >= n_rows, f"{coeffs.shape[1]} coefficient rows, {n_rows} needed"
    cam = torch.as_tensor(cam_position, dtype=means.dtype, device=means.device)
    assert cam.shape == (3,), cam.shape
    mask = None
    if visible is not None:
        assert visible.shape == means.shape[:1], (visible.shape, means.shape)
        # A bool tensor is reinterpreted in place (no copy); other types become 0/1 bytes.
        mask = visible.view(torch.uint8) if visible.dtype == torch.bool else (visible != 0).view(torch.uint8)
        mask = mask.to(means.device).contiguous()
    return means.contiguous(), coeffs.contiguous(), cam.contiguous(), mask


def eval_sh(means: torch.Tensor, coeffs: torch.Tensor, cam_position, degree: int, *,
            visible: torch.Tensor | None = None) -> torch.Tensor:
    """[N, C] colours max(0, sum_k coeffs[:, k] Y_k(d) + 0.5), d = normalize(means - cam_position).

    means: [N, 3] world; coeffs: [N, K, C] with K >= (degree + 1)^2 (extra rows ignored, zero gradient);
    cam_position: [3] world camera centre (tensor or sequence); degree 0..3; visible: optional [N] mask
    (bool or int): rows not visible get colour 0 and no gradient. Basis order and constants: REFERENCE 2.2.
    """
    means, coeffs, cam, mask = _prepare(means, coeffs, cam_position, degree, (degree + 1) ** 2, visible)
    return _ShFunction.apply(means, coeffs, cam, None, mask, degree, 0, 1.0)


def eval_sh_4d(means: torch.Tensor, coeffs: torch.Tensor, cam_position, degree: int, dt: torch.Tensor,
               duration: float, degree_t: int, *, visible: torch.Tensor | None = None) -> torch.Tensor:
    """[N, C] colours of Yang's 4D spherindrical harmonics: basis cos(2 pi n dt / duration) Y_k(d).

    coeffs: [N, K, C], K >= (degree_t + 1) (degree + 1)^2, time-major (row n (degree + 1)^2 + k for
    n = 0..degree_t); dt: [N] mu_t - t (Yang's sign), same units as duration (> 0). Otherwise as `eval_sh`;
    also differentiable in dt.
    """
    assert degree_t >= 0 and duration > 0, (degree_t, duration)
    means, coeffs, cam, mask = _prepare(means, coeffs, cam_position, degree, (degree_t + 1) * (degree + 1) ** 2,
                                        visible)
    assert dt.shape == means.shape[:1] and dt.dtype == means.dtype, (dt.shape, dt.dtype)
    return _ShFunction.apply(means, coeffs, cam, dt.contiguous(), mask, degree, degree_t, float(duration))
