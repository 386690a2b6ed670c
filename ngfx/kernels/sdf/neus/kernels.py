"""Taichi kernels of the NeuS opacity (reference.py has the method, sign convention and epsilon; REFERENCE 4.6).

A thread per section, no atomics. Notation: c = normals_dot_dirs, r = cos_anneal_ratio, s = inv_s,
ic = iter_cos, u = s f_prev, v = s f_next, a = Phi(f_prev) = sigmoid(u), b = sigmoid(v), A = a + eps and
q = (a - b + eps) / A, alpha = clamp(q, 0, 1).

Backward (`bwd`) recomputes the forward from the inputs (a few flops, cheaper than saving and reading back):
  g  = dL/dalpha [0 <= q <= 1]                 (torch.clamp: zero outside, passed on at the bounds)
  dq/da = b / A^2,  dq/db = -1 / A             (q = 1 - b / A: no cancellation in the derivative)
  P = g b a (1 - a) / A^2 = dL/du,   N = -g b (1 - b) / A = dL/dv
  dL/df     = s (P + N)
  dL/dic    = s (N - P) delta / 2,   dL/ddelta = s (N - P) ic / 2
  dL/ds     = P f_prev + N f_next
  dL/dc     = dL/dic (0.5 (1 - r) [c < 1] + r [c < 0])   (relu's slope is 0 at its kink, as torch's)
written packed as one [S, 4] row per section (sdf, cos, delta, inv_s). inv_s is read at i * inv_s_stride
(stride 0: one shared value, whose gradient the caller sums).
"""

import functools
import types

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast
from ngfx.kernels.sdf.neus.reference import EPS

__all__ = ["make_neus_kernels"]


@functools.cache
def make_neus_kernels(dtype_name: str, generation: int) -> types.SimpleNamespace:
    """fwd and bwd (module docstring) for 'f32' / 'f64' sections; `generation` recompiles after a re-init."""
    del generation
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    arr, vec4 = ti.types.ndarray, ti.types.vector(4, dt)

    @ti.func
    def sigmoid(x):
        """1 / (1 + e^-x) without an overflowing exponential on either side (no inf under fast math)."""
        e = ti.exp(-ti.abs(x))
        return ti.select(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

    @ti.func
    def section(f, c, delta, s, ratio):
        """(ic, f_prev, f_next, a, b) of one section (reference.py)."""
        ic = -(ti.max(-c * 0.5 + 0.5, 0.0) * (1.0 - ratio) + ti.max(-c, 0.0) * ratio)
        f_prev, f_next = f - ic * delta * 0.5, f + ic * delta * 0.5
        return ic, f_prev, f_next, sigmoid(f_prev * s), sigmoid(f_next * s)

    @ti.kernel
    def fwd(sdf: arr(dt, ndim=1),  # [S] SDF at the section midpoints (world units)
            cos: arr(dt, ndim=1),  # [S] d . grad f there
            deltas: arr(dt, ndim=1),  # [S] section lengths
            inv_s: arr(dt, ndim=1), inv_s_stride: ti.i32,  # [S] (stride 1) or [1] (stride 0)
            ratio: dt,  # cos_anneal_ratio
            alpha: arr(dt, ndim=1)):  # [S] out
        eps = dt(EPS)  # dt(): a bare Python float would be an f32 literal (default_fp), off by 2.5e-13
        for i in sdf:
            _ic, _fp, _fn, a, b = section(sdf[i], cos[i], deltas[i], inv_s[i * inv_s_stride], ratio)
            alpha[i] = ti.math.clamp((a - b + eps) / (a + eps), 0.0, 1.0)

    @ti.kernel
    def bwd(sdf: arr(dt, ndim=1), cos: arr(dt, ndim=1), deltas: arr(dt, ndim=1),
            inv_s: arr(dt, ndim=1), inv_s_stride: ti.i32, ratio: dt,
            grad_alpha: arr(dt, ndim=1),  # [S] cotangent
            grads: arr(vec4, ndim=1)):  # [S, 4] out: dL/d(sdf, cos, delta, inv_s) per section
        eps = dt(EPS)
        for i in sdf:
            c, delta, s = cos[i], deltas[i], inv_s[i * inv_s_stride]
            ic, f_prev, f_next, a, b = section(sdf[i], c, delta, s, ratio)
            big_a = a + eps
            q = (a - b + eps) / big_a
            g = ti.select((q >= 0.0) & (q <= 1.0), grad_alpha[i], 0.0)
            p_u = g * b * a * (1.0 - a) / (big_a * big_a)  # dL/d(s f_prev)
            n_v = -g * b * (1.0 - b) / big_a  # dL/d(s f_next)
            half_diff = s * (n_v - p_u) * 0.5
            slope = ti.select(c < 1.0, 0.5 * (1.0 - ratio), 0.0) + ti.select(c < 0.0, ratio, 0.0)
            grads[i] = vec4(s * (p_u + n_v), half_diff * delta * slope, half_diff * ic, p_u * f_prev + n_v * f_next)

    return types.SimpleNamespace(fwd=fast(fwd), bwd=fast(bwd))
