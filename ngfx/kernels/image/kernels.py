"""Taichi kernels of the 3DGS loss map (reference.py has the method and constants, REFERENCE 2.7).

The Gaussian window is separable, so every windowed sum is two 1-D passes (rows, then columns) with zero
padding, as the reference's two convolutions: 22 taps an element where the direct 11 x 11 sum takes 121.

Forward, `fwd_rows` then `fwd_cols`: the five moments of x and y (E[x], E[y], E[x^2], E[y^2], E[xy]) per
element (i, j, c) of an [H, W, C] image, then term = (1 - w) |x - y| + w (1 - s) with s = N1 N2 / (D1 D2),
N1 = 2 mu_x mu_y + C1, N2 = 2 cov + C2, D1 = mu_x^2 + mu_y^2 + C1, D2 = var_x + var_y + C2. When asked, it
stores the partial derivatives of s in the moments of x (mu_y, E[y^2] held fixed; no divisions by N1 or N2,
which may vanish):
  A = ds/dmu_x = 2 mu_y (N2 - N1) / (D1 D2) - 2 mu_x s (1 / D1 - 1 / D2),
  B = ds/dE[x^2] = -s / D2,   C = ds/dE[xy] = 2 N1 / (D1 D2).
Backward, `bwd_rows` then `bwd_cols`: with a cotangent G on the map, ds(q)/dx_p = g(q - p) (A(q) + 2 x_p B(q)
+ y_p C(q)) for window weight g, so grad_x(p) = (1 - w) G(p) sign(x_p - y_p) - w sum_q g(q - p) G(q) (A(q)
+ 2 x_p B(q) + y_p C(q)): the same (symmetric) window sum of G (A, B, C). The target gets no gradient.
No atomics.
"""

import functools
import math
import types

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast

__all__ = ["make_ssim_kernels"]


def window_weights(size: int, sigma: float) -> list[float]:
    """The normalised 1-D Gaussian window as Python floats (the reference's `gaussian_window`)."""
    g = [math.exp(-((k - size // 2) ** 2) / (2 * sigma * sigma)) for k in range(size)]
    return [v / sum(g) for v in g]


@functools.cache
def make_ssim_kernels(dtype_name: str, size: int, sigma: float, generation: int):
    """The four passes (module docstring) for 'f32' / 'f64' images and a size x size window of sigma."""
    del generation
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    vec3, vec5 = ti.types.vector(3, dt), ti.types.vector(5, dt)
    weights, half = window_weights(size, sigma), size // 2
    arr = ti.types.ndarray

    @ti.func
    def weight(k):
        wts = ti.Vector([dt(v) for v in ti.static(weights)])  # dt(v): a float64 constant stays float64
        return wts[k]

    @ti.func
    def column_sum(rows: ti.template(), i, j, c, h, zero: ti.template()):
        """The window's weighted sum down column j around row i of the row pass (zero padding)."""
        acc = zero
        for a in range(size):
            ii = i + a - half
            if 0 <= ii < h:
                acc += weight(a) * rows[ii, j, c]
        return acc

    @ti.kernel
    def fwd_rows(x: arr(dt, ndim=3), y: arr(dt, ndim=3),  # [H, W, C]
                 rows: arr(vec5, ndim=3)):  # [H, W, C] out: the five moments summed along rows
        h, w, nc = x.shape[0], x.shape[1], x.shape[2]
        for i, j, c in ti.ndrange(h, w, nc):
            acc = vec5(0.0)
            for b in range(size):
                jj = j + b - half
                if 0 <= jj < w:
                    xv, yv = x[i, jj, c], y[i, jj, c]
                    acc += weight(b) * vec5(xv, yv, xv * xv, yv * yv, xv * yv)
            rows[i, j, c] = acc

    @ti.kernel
    def fwd_cols(x: arr(dt, ndim=3), y: arr(dt, ndim=3), rows: arr(vec5, ndim=3),
                 ssim_weight: dt, c1: dt, c2: dt, want_partials: ti.i32,
                 terms: arr(dt, ndim=3),  # [H, W, C] out
                 partials: arr(vec3, ndim=3)):  # [H, W, C] out (A, B, C) when want_partials, else a [1, 1, 1] dummy
        h, w, nc = x.shape[0], x.shape[1], x.shape[2]
        for i, j, c in ti.ndrange(h, w, nc):
            m = column_sum(rows, i, j, c, h, vec5(0.0))
            mx, my, exx, eyy, exy = m[0], m[1], m[2], m[3], m[4]
            n1, n2 = 2 * mx * my + c1, 2 * (exy - mx * my) + c2
            d1, d2 = mx * mx + my * my + c1, (exx - mx * mx) + (eyy - my * my) + c2
            den = d1 * d2
            s = n1 * n2 / den
            terms[i, j, c] = (1 - ssim_weight) * ti.abs(x[i, j, c] - y[i, j, c]) + ssim_weight * (1 - s)
            if want_partials:
                partials[i, j, c] = vec3(2 * my * (n2 - n1) / den - 2 * mx * s * (1 / d1 - 1 / d2), -s / d2,
                                         2 * n1 / den)

    @ti.kernel
    def bwd_rows(partials: arr(vec3, ndim=3), grad_terms: arr(dt, ndim=3),  # [H, W, C] cotangent of the map
                 rows: arr(vec3, ndim=3)):  # [H, W, C] out: G (A, B, C) summed along rows
        h, w, nc = grad_terms.shape[0], grad_terms.shape[1], grad_terms.shape[2]
        for i, j, c in ti.ndrange(h, w, nc):
            acc = vec3(0.0)
            for b in range(size):
                jj = j + b - half
                if 0 <= jj < w:
                    acc += weight(b) * grad_terms[i, jj, c] * partials[i, jj, c]
            rows[i, j, c] = acc

    @ti.kernel
    def bwd_cols(x: arr(dt, ndim=3), y: arr(dt, ndim=3), rows: arr(vec3, ndim=3), grad_terms: arr(dt, ndim=3),
                 ssim_weight: dt,
                 grad_x: arr(dt, ndim=3)):  # [H, W, C] out
        h, w, nc = x.shape[0], x.shape[1], x.shape[2]
        for i, j, c in ti.ndrange(h, w, nc):
            acc = column_sum(rows, i, j, c, h, vec3(0.0))
            xv, d = x[i, j, c], x[i, j, c] - y[i, j, c]
            sign = dt(0.0)
            if d > 0:
                sign = dt(1.0)
            elif d < 0:
                sign = dt(-1.0)
            l1 = (1 - ssim_weight) * grad_terms[i, j, c] * sign
            grad_x[i, j, c] = l1 - ssim_weight * (acc[0] + 2 * xv * acc[1] + y[i, j, c] * acc[2])

    return types.SimpleNamespace(fwd_rows=fast(fwd_rows), fwd_cols=fast(fwd_cols), bwd_rows=fast(bwd_rows),
                                 bwd_cols=fast(bwd_cols))
