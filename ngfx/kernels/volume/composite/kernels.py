"""Taichi kernels of volume compositing along packed rays (reference.py has the quadrature), one thread
per ray walking its samples in order, so no atomics: each sample belongs to exactly one ray.

Forward `fwd`: T = 1; per sample i (until T < stop): tau = sigma delta, w_i = T (1 - e^-tau), T *= e^-tau;
it sums the foreground color sum w c, the opacity sum w and the depth sum w (t0 + t1) / 2, writes w_i, and
records n_used (one past the last composited sample) so the backward walks exactly the same samples. The
background term (1 - opacity) bg is added by op.py in torch.

Backward `bwd` (REFERENCE 4.5, the suffix trick): a scalar objective L with cotangents gC, gO, gD per ray
and gw per sample is L = sum_k w_k u_k + b, with b = gC . bg and
    u_k = gC . c_k + gO + gD (t0_k + t1_k) / 2 + gw_k - b.
Since w_k = T_k (1 - e^-tau_k) and T_k = exp(-sum_{j<k} tau_j),
    dL/dtau_i = T_{i+1} u_i - sum_{k>i} w_k u_k,   dL/dsigma_i = delta_i dL/dtau_i,   dL/dc_i = w_i gC.
Pass 1 sums U = sum_k w_k u_k over the composited samples; pass 2 walks forward recomputing T and takes
the suffix as U minus the running prefix. Samples past n_used get zero gradient (the early-stop mask
carries none). One writer per sample, and every output element is written by the kernel, never left to
a caller's zero fill: Taichi 1.7.4 on Vulkan does not upload arrays a kernel only writes, so an element
the kernel skips keeps whatever the reused device buffer held from an earlier call.
"""

import functools
import types

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast

__all__ = ["MAX_CHANNELS", "make_composite_kernels"]

MAX_CHANNELS = 16  # colour / feature channels per sample: one accumulator register each


@functools.cache
def make_composite_kernels(n_channels: int, dtype_name: str, generation: int) -> types.SimpleNamespace:
    """`fwd` and `bwd` for samples of `n_channels` channels in 'f32' / 'f64' (the channel count is the only
    compile-time knob); `generation` re-keys the cache after a re-init."""
    del generation
    assert 1 <= n_channels <= MAX_CHANNELS, n_channels
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    n_ch = n_channels
    vec = ti.types.vector(n_ch, dt)
    arr = ti.types.ndarray

    @ti.kernel
    def fwd(sigmas: arr(dt, ndim=1),  # [S] density, >= 0, per world unit
            rgbs: arr(dt, ndim=2),  # [S, C]
            t_starts: arr(dt, ndim=1), t_ends: arr(dt, ndim=1),  # [S] distances along the ray
            offsets: arr(ti.i32, ndim=1),  # [R + 1] first sample of each ray; offsets[R] = S
            stop: dt,  # skip samples whose incoming T is below this (0: composite all)
            color: arr(dt, ndim=2),  # [R, C] out: sum w c (no background)
            opacity: arr(dt, ndim=1), depth: arr(dt, ndim=1),  # [R] out
            weights: arr(dt, ndim=1),  # [S] out (0 for stopped samples)
            n_used: arr(ti.i32, ndim=1)):  # [R] out: one past the last composited sample
        for r in range(offsets.shape[0] - 1):
            T = dt(1.0)                     # transmittance before sample i
            acc = vec(0.0)                  # sum w c
            acc_o, acc_d = dt(0.0), dt(0.0)  # sum w, sum w t_mid
            used = offsets[r]
            for i in range(offsets[r], offsets[r + 1]):
                if T < stop:
                    break
                t0, t1 = t_starts[i], t_ends[i]
                decay = ti.exp(-sigmas[i] * (t1 - t0))
                w = T * (1.0 - decay)
                weights[i] = w
                for c in ti.static(range(n_ch)):
                    acc[c] += w * rgbs[i, c]
                acc_o += w
                acc_d += w * 0.5 * (t0 + t1)
                T *= decay
                used = i + 1
            for i in range(used, offsets[r + 1]):  # written here, not by a zero fill (module docstring)
                weights[i] = 0.0
            for c in ti.static(range(n_ch)):
                color[r, c] = acc[c]
            opacity[r], depth[r], n_used[r] = acc_o, acc_d, used

    @ti.func
    def objective_slope(i, r, rgbs: ti.template(), t_starts: ti.template(), t_ends: ti.template(),
                        grad_rays: ti.template(), grad_weights: ti.template(), has_grad_weights):
        """u_i of the module docstring: dL/dw_i, less the background's share b."""
        t_mid = 0.5 * (t_starts[i] + t_ends[i])
        u = grad_rays[r, n_ch] + grad_rays[r, n_ch + 1] * t_mid - grad_rays[r, n_ch + 2]
        for c in ti.static(range(n_ch)):
            u += grad_rays[r, c] * rgbs[i, c]
        if has_grad_weights:
            u += grad_weights[i]
        return u

    @ti.kernel
    def bwd(sigmas: arr(dt, ndim=1), rgbs: arr(dt, ndim=2), t_starts: arr(dt, ndim=1),
            t_ends: arr(dt, ndim=1), offsets: arr(ti.i32, ndim=1),
            weights: arr(dt, ndim=1), n_used: arr(ti.i32, ndim=1),  # [S], [R] from the forward
            grad_rays: arr(dt, ndim=2),  # [R, C + 3]: gC (C), gO, gD, b = gC . bg
            grad_weights: arr(dt, ndim=1),  # [S] gw, or a [1] dummy when has_grad_weights is 0
            has_grad_weights: ti.i32,
            grad_sigmas: arr(dt, ndim=1),  # [S] out
            grad_rgbs: arr(dt, ndim=2)):  # [S, C] out
        for r in range(offsets.shape[0] - 1):
            start, end = offsets[r], n_used[r]
            total = dt(0.0)  # U = sum_k w_k u_k
            for i in range(start, end):
                total += weights[i] * objective_slope(i, r, rgbs, t_starts, t_ends, grad_rays, grad_weights,
                                                      has_grad_weights)
            T = dt(1.0)          # transmittance before sample i, as in the forward
            prefix = dt(0.0)     # sum_{k<=i} w_k u_k
            for i in range(start, end):
                u = objective_slope(i, r, rgbs, t_starts, t_ends, grad_rays, grad_weights, has_grad_weights)
                delta = t_ends[i] - t_starts[i]
                w = weights[i]
                T *= ti.exp(-sigmas[i] * delta)  # now T_{i+1}
                prefix += w * u
                grad_sigmas[i] = delta * (T * u - (total - prefix))
                for c in ti.static(range(n_ch)):
                    grad_rgbs[i, c] = w * grad_rays[r, c]
            for i in range(end, offsets[r + 1]):  # stopped samples: no gradient
                grad_sigmas[i] = 0.0
                for c in ti.static(range(n_ch)):
                    grad_rgbs[i, c] = 0.0

    return types.SimpleNamespace(fwd=fast(fwd), bwd=fast(bwd))
