"""Public `composite_along_rays`: volume rendering of packed ray samples, one Taichi launch forward and
one backward (kernels.py, hand-written suffix-trick gradient), equal to the torch reference (reference.py).

The kernels composite the foreground only; the background term (1 - opacity) bg and its gradient are
plain torch here, inside the autograd Function, so a [C] or [R, C] or absent background costs no kernel
variants.
"""

import dataclasses

import torch

from ngfx.kernels import runtime
from ngfx.kernels.volume.composite.kernels import MAX_CHANNELS, make_composite_kernels

__all__ = ["CompositeOutput", "composite_along_rays"]

_NAMES = {torch.float32: "f32", torch.float64: "f64"}


@dataclasses.dataclass(frozen=True)
class CompositeOutput:
    """Per ray: color [R, C] (background included), opacity [R] = sum w in [0, 1], depth [R] = sum w t_mid
    (expected ray distance, not divided by opacity, so empty space pulls it towards 0); per sample:
    weights [S] = T alpha (0 for samples after the early stop). All four are differentiable."""

    color: torch.Tensor
    opacity: torch.Tensor
    depth: torch.Tensor
    weights: torch.Tensor


class _CompositeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, sigmas, rgbs, t_starts, t_ends, ray_offsets, background, stop, kernels):
        n_rays, n_ch = ray_offsets.shape[0] - 1, rgbs.shape[1]
        color = rgbs.new_zeros((n_rays, n_ch))
        opacity, depth = sigmas.new_zeros(n_rays), sigmas.new_zeros(n_rays)
        weights = torch.empty_like(sigmas)  # the kernel writes every sample (0 past an early stop)
        n_used = ray_offsets[:-1].clone()  # empty rays composite nothing
        sigmas, rgbs = sigmas.detach(), rgbs.detach()  # Taichi's own path zero-fills .grad of grad inputs
        if n_rays and sigmas.shape[0]:  # Taichi gets no zero-sized arrays
            kernels.fwd(sigmas, rgbs, t_starts, t_ends, ray_offsets, stop, color, opacity, depth, weights,
                        n_used)
        if background is not None:
            color = torch.addcmul(color, (1.0 - opacity)[:, None], background)
        bg = None if background is None else background.detach()
        ctx.save_for_backward(sigmas, rgbs, t_starts, t_ends, ray_offsets, bg, opacity, weights, n_used)
        ctx.kernels = kernels
        ctx.set_materialize_grads(False)  # an unused output's cotangent arrives as None
        return color, opacity, depth, weights

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_color, grad_opacity, grad_depth, grad_weights):
        # detached: saved outputs (weights, opacity) require grad, and Taichi's own (Vulkan) path would
        # allocate a .grad for every tensor argument that does
        saved = [None if x is None else x.detach() for x in ctx.saved_tensors]
        sigmas, rgbs, t_starts, t_ends, ray_offsets, background, opacity, weights, n_used = saved
        n_rays, n_ch = ray_offsets.shape[0] - 1, rgbs.shape[1]
        zeros = sigmas.new_zeros(n_rays)
        grad_color = rgbs.new_zeros((n_rays, n_ch)) if grad_color is None else grad_color
        grad_bg_dot = zeros if background is None else (grad_color * background).sum(-1)
        grad_rays = torch.cat([grad_color, (zeros if grad_opacity is None else grad_opacity)[:, None],
                               (zeros if grad_depth is None else grad_depth)[:, None], grad_bg_dot[:, None]],
                              dim=1).contiguous()
        has_gw = grad_weights is not None
        gw = grad_weights.contiguous() if has_gw else sigmas.new_zeros(1)
        grad_sigmas, grad_rgbs = torch.empty_like(sigmas), torch.empty_like(rgbs)  # every sample written
        if n_rays and sigmas.shape[0]:
            ctx.kernels.bwd(sigmas, rgbs, t_starts, t_ends, ray_offsets, weights, n_used, grad_rays, gw,
                            int(has_gw), grad_sigmas, grad_rgbs)
        grad_background = None
        if background is not None and ctx.needs_input_grad[5]:
            grad_background = grad_color * (1.0 - opacity)[:, None]
            if background.ndim == 1:
                grad_background = grad_background.sum(0)
        return grad_sigmas, grad_rgbs, None, None, None, grad_background, None, None


def _check(sigmas, rgbs, t_starts, t_ends, ray_offsets, background, stop_transmittance):
    n = sigmas.shape[0]
    if sigmas.dtype not in _NAMES:
        raise ValueError(f"sigmas must be float32 or float64, got {sigmas.dtype}")
    if sigmas.ndim != 1 or t_starts.shape != (n,) or t_ends.shape != (n,):
        raise ValueError(f"sigmas, t_starts, t_ends must be [S], got {tuple(sigmas.shape)}, "
                         f"{tuple(t_starts.shape)}, {tuple(t_ends.shape)}")
    if rgbs.ndim != 2 or rgbs.shape[0] != n or not 1 <= rgbs.shape[1] <= MAX_CHANNELS:
        raise ValueError(f"rgbs must be [S, C] with S = {n} and 1 <= C <= {MAX_CHANNELS}, got "
                         f"{tuple(rgbs.shape)}")
    if ray_offsets.ndim != 1 or ray_offsets.shape[0] < 1 or ray_offsets.dtype != torch.int32:
        raise ValueError(f"ray_offsets must be int32 [R + 1], got {tuple(ray_offsets.shape)} "
                         f"{ray_offsets.dtype}")
    n_rays, n_ch = ray_offsets.shape[0] - 1, rgbs.shape[1]
    if background is not None and tuple(background.shape) not in ((n_ch,), (n_rays, n_ch)):
        raise ValueError(f"background must be [C] or [R, C] = [{n_rays}, {n_ch}], got "
                         f"{tuple(background.shape)}")
    floats = [rgbs, t_starts, t_ends] + ([] if background is None else [background])
    if any(x.dtype != sigmas.dtype or x.device != sigmas.device for x in floats) or \
            ray_offsets.device != sigmas.device:
        raise ValueError("all inputs must share sigmas' device, and the float inputs its dtype")
    if not 0.0 <= stop_transmittance < 1.0:
        raise ValueError(f"stop_transmittance must be in [0, 1), got {stop_transmittance}")
    # one host sync: a wrong packing would make the kernel read out of bounds
    if int(ray_offsets[0]) != 0 or int(ray_offsets[-1]) != n:
        raise ValueError(f"ray_offsets must start at 0 and end at S = {n}, got {int(ray_offsets[0])} .. "
                         f"{int(ray_offsets[-1])}")


def composite_along_rays(sigmas: torch.Tensor, rgbs: torch.Tensor, t_starts: torch.Tensor,
                         t_ends: torch.Tensor, ray_offsets: torch.Tensor, *,
                         background: torch.Tensor | None = None,
                         stop_transmittance: float = 0.0) -> CompositeOutput:
    """Emission-absorption compositing of packed samples (NeRF quadrature, REFERENCE 4.5; reference.py).

    Samples are packed ray by ray: ray r owns samples ray_offsets[r] .. ray_offsets[r + 1] - 1 in
    front-to-back order (offsets int32 [R + 1], non-decreasing, starting at 0 and ending at S; a ray may
    have none). sigmas [S] >= 0 (density per world unit), rgbs [S, C] (1 <= C <= 16: colour or features),
    t_starts / t_ends [S] distances along the ray with t_end >= t_start. Per sample alpha = 1 - exp(-sigma
    (t_end - t_start)) and weight w = T alpha; per ray color = sum w c + (1 - sum w) bg with background
    [C], [R, C] or None (zero), opacity = sum w and depth = sum w (t_start + t_end) / 2: the expected ray
    distance, NOT normalised by opacity (divide by it for a surface estimate; multiply by dir_cam.z, see
    `generate_rays`, for a camera-z depth map). stop_transmittance > 0 stops a ray at the first sample whose
    incoming T is below it (instant-ngp uses 1e-4): that sample and the rest get w = 0.

    Differentiable in sigmas, rgbs and background, through all four outputs (weights too, e.g. for a
    distortion loss); t_starts and t_ends get no gradient, nor does the early-stop decision.
    Float32 or float64 (gradcheck) tensors on `runtime.device()`.
    """
    runtime.ensure_init()
    _check(sigmas, rgbs, t_starts, t_ends, ray_offsets, background, stop_transmittance)
    kernels = make_composite_kernels(rgbs.shape[1], _NAMES[sigmas.dtype], runtime.generation())
    outputs = _CompositeFunction.apply(sigmas.contiguous(), rgbs.contiguous(), t_starts.detach().contiguous(),
                                       t_ends.detach().contiguous(), ray_offsets.contiguous(),
                                       None if background is None else background.contiguous(),
                                       float(stop_transmittance), kernels)
    return CompositeOutput(*outputs)
