"""Taichi kernels of spherical-harmonics colour, 3D (INRIA, REFERENCE 2.2) and 4D spherindrical (Yang, 3.4).

Per Gaussian i, with d = normalize(mean_i - cam_position) in world axes, basis Y_k(d) in the REFERENCE 2.2
order (k < nb = (degree + 1)^2) and temporal factors T_n = cos(n * phase_i), phase_i = 2 pi dt_i / duration
(n < nt = degree_t + 1; the 3D kernels are the case nt = 1):
    colour_ic = max(0, sum_n T_n sum_k coeffs[i, n * nb + k, c] Y_k(d) + 0.5).
Degrees are runtime arguments (one build per dtype): the 16 basis functions are unrolled and guarded by
k < nb. The backward is hand-written: it recomputes the raw sum (the clamp passes the gradient where
raw + 0.5 >= 0, as torch.clamp_min does), then
    d colour / d coeffs[i, n nb + k, c] = T_n Y_k,   d colour / d d = sum_n T_n J^T a_n,
    d colour / d dt = -sum_n n omega sin(n phase) a_n . Y,  with omega = 2 pi / duration,
and maps d-gradients to means through the normalization: (g - d (d . g)) / |mean - cam|.
Rows not visible (mask) get colour 0 and zero gradients; rows >= nt * nb get zero gradients.
"""

import functools
import types

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast

__all__ = ["MIN_DISTANCE", "SH_C0", "SH_C1", "SH_C2", "SH_C3", "make_sh_funcs", "make_sh_kernels"]

SH_C0 = 0.28209479177387814
SH_C1 = 0.4886025119029199
SH_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
SH_C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154, -0.4570457994644658,
         1.445305721320277, -0.5900435899266435)
# |mean - cam| is clamped below by this, so a mean at the camera centre gives d = 0 (DC term only), not NaN.
MIN_DISTANCE = 1e-12


@functools.cache
def make_sh_funcs(dtype_name: str) -> types.SimpleNamespace:
    """Per-Gaussian SH `ti.func`s for 'f32' / 'f64', shared with the fused preprocess kernel:
    basis(d) -> Y_0..15, basis_vjp(d, a) -> sum_k a_k dY_k/dd, direction(mean, cam) -> (d, r, norm)."""
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    vec3 = ti.types.vector(3, dt)
    vec16 = ti.types.vector(16, dt)

    @ti.func
    def constants():
        """The SH constants as `dt` values: a bare Python float in Taichi scope is an f32 literal, which
        would cost the f64 build 8 digits; dt(v) keeps every digit."""
        return (dt(SH_C0), dt(SH_C1), ti.Vector([dt(v) for v in ti.static(SH_C2)]),
                ti.Vector([dt(v) for v in ti.static(SH_C3)]))

    @ti.func
    def basis(d):
        """Y_0..Y_15 at unit direction d (REFERENCE 2.2 order and constants)."""
        k0, k1, k2, k3 = constants()
        x, y, z = d[0], d[1], d[2]
        xx, yy, zz = x * x, y * y, z * z
        return vec16([k0, -k1 * y, k1 * z, -k1 * x,
                      k2[0] * x * y, k2[1] * y * z, k2[2] * (2 * zz - xx - yy), k2[3] * x * z, k2[4] * (xx - yy),
                      k3[0] * y * (3 * xx - yy), k3[1] * x * y * z, k3[2] * y * (4 * zz - xx - yy),
                      k3[3] * z * (2 * zz - 3 * xx - 3 * yy), k3[4] * x * (4 * zz - xx - yy),
                      k3[5] * z * (xx - yy), k3[6] * x * (xx - 3 * yy)])

    @ti.func
    def basis_vjp(d, a):
        """sum_k a_k dY_k/dd: the polynomials above differentiated term by term (off-sphere values are
        projected away by the normalization backward, so any polynomial extension works)."""
        _k0, k1, k2, k3 = constants()
        x, y, z = d[0], d[1], d[2]
        xx, yy, zz = x * x, y * y, z * z
        gx = (-k1 * a[3] + k2[0] * y * a[4] - 2 * k2[2] * x * a[6] + k2[3] * z * a[7] + 2 * k2[4] * x * a[8]
              + 6 * k3[0] * x * y * a[9] + k3[1] * y * z * a[10] - 2 * k3[2] * x * y * a[11]
              - 6 * k3[3] * x * z * a[12] + k3[4] * (4 * zz - 3 * xx - yy) * a[13] + 2 * k3[5] * x * z * a[14]
              + 3 * k3[6] * (xx - yy) * a[15])
        gy = (-k1 * a[1] + k2[0] * x * a[4] + k2[1] * z * a[5] - 2 * k2[2] * y * a[6] - 2 * k2[4] * y * a[8]
              + 3 * k3[0] * (xx - yy) * a[9] + k3[1] * x * z * a[10] + k3[2] * (4 * zz - xx - 3 * yy) * a[11]
              - 6 * k3[3] * y * z * a[12] - 2 * k3[4] * x * y * a[13] - 2 * k3[5] * y * z * a[14]
              - 6 * k3[6] * x * y * a[15])
        gz = (k1 * a[2] + k2[1] * y * a[5] + 4 * k2[2] * z * a[6] + k2[3] * x * a[7]
              + k3[1] * x * y * a[10] + 8 * k3[2] * y * z * a[11] + 3 * k3[3] * (2 * zz - xx - yy) * a[12]
              + 8 * k3[4] * x * z * a[13] + k3[5] * (xx - yy) * a[14])
        return vec3([gx, gy, gz])

    @ti.func
    def direction(mean, cam: ti.template()):
        """(d, r, norm): unit view direction camera centre -> mean, clamped distance, raw distance."""
        v = mean - vec3([cam[0], cam[1], cam[2]])
        norm = v.norm()
        r = ti.max(norm, dt(MIN_DISTANCE))
        return v / r, r, norm

    return types.SimpleNamespace(basis=basis, basis_vjp=basis_vjp, direction=direction)


@functools.cache
def make_sh_kernels(dtype_name: str, generation: int):
    """Namespace of fwd / bwd (3D) and fwd_4d / bwd_4d (4D) kernels for 'f32' or 'f64'."""
    del generation
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    vec3 = ti.types.vector(3, dt)
    vec16 = ti.types.vector(16, dt)

    f = make_sh_funcs(dtype_name)
    basis, basis_vjp, direction = f.basis, f.basis_vjp, f.direction

    @ti.func
    def load(coeffs: ti.template(), i, row0, nb, c):
        """Coefficients rows row0 .. row0 + nb - 1 of channel c, zero-padded to 16."""
        a = vec16(0.0)
        for k in ti.static(range(16)):
            if k < nb:
                a[k] = coeffs[i, row0 + k, c]
        return a

    @ti.func
    def is_visible(visible: ti.template(), masked, i):
        vis = 1
        if masked != 0:  # the mask is a 1-element dummy when unmasked: never read it then
            vis = ti.cast(visible[i], ti.i32)
        return vis != 0

    @ti.func
    def colors_one(i, mean, coeffs: ti.template(), cam: ti.template(), phase, nb, nt, colors: ti.template()):
        d, _r, _norm = direction(mean, cam)
        y = basis(d)
        for c in range(coeffs.shape[2]):
            raw = ti.cast(0.0, dt)
            for n in range(nt):
                raw += ti.cos(n * phase) * load(coeffs, i, n * nb, nb, c).dot(y)
            colors[i, c] = ti.max(raw + 0.5, 0.0)

    @ti.func
    def grads_one(i, mean, coeffs: ti.template(), cam: ti.template(), phase, omega, nb, nt,
                  grad_colors: ti.template(), grad_coeffs: ti.template()):
        """Writes grad_coeffs[i]; returns (grad of the mean, grad of dt)."""
        d, r, norm = direction(mean, cam)
        y = basis(d)
        g_d, g_dt = vec3(0.0), ti.cast(0.0, dt)
        for c in range(coeffs.shape[2]):
            raw, raw_d, raw_dt = ti.cast(0.0, dt), vec3(0.0), ti.cast(0.0, dt)
            for n in range(nt):
                a = load(coeffs, i, n * nb, nb, c)
                s, cos_n = a.dot(y), ti.cos(n * phase)
                raw += cos_n * s
                raw_d += cos_n * basis_vjp(d, a)
                raw_dt -= n * omega * ti.sin(n * phase) * s
            g = grad_colors[i, c]
            if raw + 0.5 < 0:  # clamped channel
                g = 0.0
            g_d += g * raw_d
            g_dt += g * raw_dt
            for n in range(nt):
                w = g * ti.cos(n * phase)
                for k in ti.static(range(16)):
                    if k < nb:
                        grad_coeffs[i, n * nb + k, c] = w * y[k]
            for row in range(nt * nb, coeffs.shape[1]):  # rows beyond the degrees are ignored
                grad_coeffs[i, row, c] = 0.0
        if norm > dt(MIN_DISTANCE):  # else d = v / MIN_DISTANCE is linear in v: no projection
            g_d -= d * d.dot(g_d)
        return g_d / r, g_dt

    @ti.func
    def zero_row(i, out: ti.template()):
        for c in range(out.shape[1]):
            out[i, c] = 0.0

    @ti.func
    def zero_coeffs(i, grad_coeffs: ti.template()):
        for row, c in ti.ndrange(grad_coeffs.shape[1], grad_coeffs.shape[2]):
            grad_coeffs[i, row, c] = 0.0

    @ti.kernel
    def fwd(means: ti.types.ndarray(vec3, ndim=1),  # [N] world positions
            coeffs: ti.types.ndarray(dt, ndim=3),  # [N, K, C] SH coefficients, K >= nb
            cam: ti.types.ndarray(dt, ndim=1),  # [3] camera centre, world
            visible: ti.types.ndarray(ti.u8, ndim=1),  # [N] mask (or [1] dummy when masked == 0)
            masked: ti.i32, nb: ti.i32,
            colors: ti.types.ndarray(dt, ndim=2)):  # [N, C] out
        for i in range(means.shape[0]):
            if is_visible(visible, masked, i):
                colors_one(i, means[i], coeffs, cam, ti.cast(0.0, dt), nb, 1, colors)
            else:
                zero_row(i, colors)

    @ti.kernel
    def bwd(means: ti.types.ndarray(vec3, ndim=1), coeffs: ti.types.ndarray(dt, ndim=3),
            cam: ti.types.ndarray(dt, ndim=1), visible: ti.types.ndarray(ti.u8, ndim=1), masked: ti.i32, nb: ti.i32,
            grad_colors: ti.types.ndarray(dt, ndim=2),  # [N, C] cotangent
            grad_coeffs: ti.types.ndarray(dt, ndim=3),  # [N, K, C] out
            grad_means: ti.types.ndarray(vec3, ndim=1)):  # [N] out
        for i in range(means.shape[0]):
            if is_visible(visible, masked, i):
                zero = ti.cast(0.0, dt)
                g_mean, _g_dt = grads_one(i, means[i], coeffs, cam, zero, zero, nb, 1, grad_colors, grad_coeffs)
                grad_means[i] = g_mean
            else:
                grad_means[i] = vec3(0.0)
                zero_coeffs(i, grad_coeffs)

    @ti.kernel
    def fwd_4d(means: ti.types.ndarray(vec3, ndim=1), coeffs: ti.types.ndarray(dt, ndim=3),  # [N, nt * nb.., C]
               cam: ti.types.ndarray(dt, ndim=1), visible: ti.types.ndarray(ti.u8, ndim=1), masked: ti.i32,
               nb: ti.i32, nt: ti.i32, omega: dt,  # omega = 2 pi / duration
               dts: ti.types.ndarray(dt, ndim=1),  # [N] mu_t - t
               colors: ti.types.ndarray(dt, ndim=2)):
        for i in range(means.shape[0]):
            if is_visible(visible, masked, i):
                colors_one(i, means[i], coeffs, cam, omega * dts[i], nb, nt, colors)
            else:
                zero_row(i, colors)

    @ti.kernel
    def bwd_4d(means: ti.types.ndarray(vec3, ndim=1), coeffs: ti.types.ndarray(dt, ndim=3),
               cam: ti.types.ndarray(dt, ndim=1), visible: ti.types.ndarray(ti.u8, ndim=1), masked: ti.i32,
               nb: ti.i32, nt: ti.i32, omega: dt, dts: ti.types.ndarray(dt, ndim=1),
               grad_colors: ti.types.ndarray(dt, ndim=2), grad_coeffs: ti.types.ndarray(dt, ndim=3),
               grad_means4: ti.types.ndarray(ti.types.vector(4, dt), ndim=1)):  # [N] out: means xyz, dt
        for i in range(means.shape[0]):
            g = ti.Vector([0.0, 0.0, 0.0, 0.0], dt)
            if is_visible(visible, masked, i):
                g_mean, g_dt = grads_one(i, means[i], coeffs, cam, omega * dts[i], omega, nb, nt, grad_colors,
                                         grad_coeffs)
                g = ti.Vector([g_mean[0], g_mean[1], g_mean[2], g_dt], dt)
            else:
                zero_coeffs(i, grad_coeffs)
            grad_means4[i] = g

    return types.SimpleNamespace(fwd=fast(fwd), bwd=fast(bwd), fwd_4d=fast(fwd_4d), bwd_4d=fast(bwd_4d))
