"""Taichi kernels of 4D Gaussian slicing (see reference.py for the method, conventions and papers).

Two layers, so the per-Gaussian math can be fused into other kernels (e.g. slice + project in one pass):
- `make_slice_funcs(dtype_name)`: @ti.func building blocks, each with a hand-written vector-Jacobian
  product (`*_vjp`): the two 4D rotations, Duan's rotor normalization, the conditional covariance and
  `slice_at` / `slice_at_vjp`, the whole per-Gaussian slice and its backward.
- `make_slice_kernels(dtype_name, generation)`: `slice_fwd` and `slice_bwd`, one thread per Gaussian.
The backward is hand-written because Taichi 1.7.4 autodiff of this kernel compiles for ~10 minutes on the
CPU (its IR grows superlinearly with the unrolled 4x4 products); tests check it against torch autograd.
"""

import functools
from types import SimpleNamespace

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast

__all__ = ["COV6", "ROTOR_EPS", "make_slice_funcs", "make_slice_kernels"]

ROTOR_EPS = 1e-7  # Duan: the grade-4 correction runs only when |eps| > 1e-7; the norm gets + 1e-7 too
TINY = 1e-30  # guards divisions that only an all-zero quaternion or rotor could reach
COV6 = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))  # packing of the 3x3 covariance: xx xy xz yy yz zz


@functools.cache
def make_slice_funcs(dtype_name: str):
    """@ti.func building blocks for float32 or float64 ('f32' / 'f64').

    Funcs hold no Taichi program state (they are re-traced inside each kernel that calls them), so the
    cache is keyed on the dtype alone. `rotation_is_rotor` may be a runtime i32 or a Python constant.
    - rotation_4d(rot8, rotation_is_rotor) -> mat4; rotation_4d_vjp(rot8, rotation_is_rotor, grad_rot) -> vec8
      (also rotation_4d_dualquat / rotation_4d_rotor / normalize_rotor and their _vjp).
    - slice_at(mean4, log_scale4, rot8, opacity, t, rotation_is_rotor) -> (mean3, cov6, opacity_t, weight),
      opacity_t = opacity * weight NOT culled: the caller compares weight with its threshold.
    - slice_at_vjp(mean4, log_scale4, rot8, opacity, t, rotation_is_rotor, grad_mean3, grad_cov6,
      grad_opacity_t, grad_velocity, min_weight) -> (grad_mean4, grad_log_scale4, grad_rot8, grad_opacity);
      grad_opacity_t counts only where weight > min_weight (the cull; pass 0.0 for none), grad_velocity is
      zero when velocities are not used. Gradients w.r.t. t are not computed.
    """
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    vec4, vec8 = ti.types.vector(4, dt), ti.types.vector(8, dt)

    @ti.func
    def left(a):
        """Matrix of v -> a v (quaternion product, wxyz): REFERENCE 3.1's L."""
        return ti.Matrix([[a[0], -a[1], -a[2], -a[3]], [a[1], a[0], -a[3], a[2]],
                          [a[2], a[3], a[0], -a[1]], [a[3], -a[2], a[1], a[0]]], dt)

    @ti.func
    def right(b):
        """Matrix of v -> v b: REFERENCE 3.1's R."""
        return ti.Matrix([[b[0], -b[1], -b[2], -b[3]], [b[1], b[0], b[3], -b[2]],
                          [b[2], -b[3], b[0], b[1]], [b[3], b[2], -b[1], b[0]]], dt)

    @ti.func
    def halves(rot8):
        """(q_l, q_r) = rot8[0:4], rot8[4:8] and their norms (guarded)."""
        q_l = vec4(rot8[0], rot8[1], rot8[2], rot8[3])
        q_r = vec4(rot8[4], rot8[5], rot8[6], rot8[7])
        return q_l, q_r, ti.max(q_l.norm(), TINY), ti.max(q_r.norm(), TINY)

    @ti.func
    def rotation_4d_dualquat(rot8):
        """Yang: R4 = L(q_l) R(q_r) with q_l, q_r normalized first."""
        q_l, q_r, n_l, n_r = halves(rot8)
        return left(q_l / n_l) @ right(q_r / n_r)

    @ti.func
    def rotation_4d_dualquat_vjp(rot8, grad_rot):
        """d<grad_rot, R4>/d rot8. L and R are linear, so d/da_k = <grad_L, L(e_k)>; then through a = q / |q|."""
        q_l, q_r, n_l, n_r = halves(rot8)
        a, b = q_l / n_l, q_r / n_r
        grad_left, grad_right = grad_rot @ right(b).transpose(), left(a).transpose() @ grad_rot
        grad_a, grad_b = ti.Vector.zero(dt, 4), ti.Vector.zero(dt, 4)
        for k in ti.static(range(4)):
            grad_a[k] = (grad_left * left(ti.Vector.unit(4, k, dt))).sum()
            grad_b[k] = (grad_right * right(ti.Vector.unit(4, k, dt))).sum()
        grad_l = (grad_a - a * a.dot(grad_a)) / n_l
        grad_r = (grad_b - b * b.dot(grad_b)) / n_r
        return vec8(grad_l[0], grad_l[1], grad_l[2], grad_l[3], grad_r[0], grad_r[1], grad_r[2], grad_r[3])

    @ti.func
    def swap_signed(r):
        """J r, the symmetric signed swap of Duan's update: eps = 0.5 r.J r and r' = r + delta J r."""
        return vec8(r[7], -r[6], r[5], -r[4], -r[3], r[2], -r[1], r[0])

    @ti.func
    def rotor_delta(r):
        """(delta, eps, l2, root): delta = -2 eps / (l2 + root), root = sqrt(l2^2 - 4 eps^2), 0 if |eps| <= 1e-7.

        The same number as REFERENCE 3.2's (root - l2) / (2 eps), without the cancellation that zeroes it in
        float32 for small eps.
        """
        eps = 0.5 * r.dot(swap_signed(r))
        l2 = r.norm_sqr()
        root = ti.sqrt(ti.max(l2 * l2 - 4.0 * eps * eps, 0.0))
        delta = ti.select(ti.abs(eps) > ROTOR_EPS, -2.0 * eps / ti.max(l2 + root, TINY), 0.0)
        return delta, eps, l2, root

    @ti.func
    def normalize_rotor(r):
        """Duan: remove the grade-4 part of r r~ when |eps| > 1e-7, then divide by (|r| + 1e-7)."""
        delta, _eps, _l2, _root = rotor_delta(r)
        fixed = r + delta * swap_signed(r)
        return fixed / (fixed.norm() + ROTOR_EPS)

    @ti.func
    def normalize_rotor_vjp(r, grad_unit):
        """Backward of normalize_rotor: through r / (|r| + 1e-7), then the delta update (J symmetric)."""
        delta, eps, l2, root = rotor_delta(r)
        jr = swap_signed(r)
        fixed = r + delta * jr
        norm = ti.max(fixed.norm(), TINY)
        den = norm + ROTOR_EPS
        grad_fixed = grad_unit / den - fixed * (fixed.dot(grad_unit) / (den * den * norm))
        grad_r = grad_fixed + delta * swap_signed(grad_fixed)
        if ti.abs(eps) > ROTOR_EPS:  # d delta / d r through eps (gradient J r) and l2 (gradient 2 r)
            d = ti.max(l2 + root, TINY)
            safe_root = ti.max(root, TINY)
            ddelta_deps = -2.0 / d - 8.0 * eps * eps / (d * d * safe_root)
            ddelta_dl2 = 2.0 * eps / (d * d) * (1.0 + l2 / safe_root)
            grad_r += grad_fixed.dot(jr) * (ddelta_deps * jr + ddelta_dl2 * 2.0 * r)
        return grad_r

    @ti.func
    def rotor_table(r, u):
        """REFERENCE 3.2's table, typed row by row as printed, with every product x y read as x(r) y(u):
        rotor_table(r, r) is the table, and its derivative along u is rotor_table(r, u) + rotor_table(u, r)."""
        s, bxy, bxz, byz, bxw, byw, bzw, p = r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
        S, Bxy, Bxz, Byz, Bxw, Byw, Bzw, P = u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7]
        diag = s * S - p * P
        return ti.Matrix([
            [diag - bxy * Bxy - bxz * Bxz - bxw * Bxw + byz * Byz + byw * Byw + bzw * Bzw,
             -2.0 * (bxy * S + bxz * Byz + bxw * Byw + bzw * P), 2.0 * (bxy * Byz - bxz * S - bxw * Bzw + byw * P),
             2.0 * (bxy * Byw + bxz * Bzw - bxw * S - byz * P)],
            [2.0 * (bxy * S - bxz * Byz - bxw * Byw + bzw * P),
             diag - bxy * Bxy + bxz * Bxz + bxw * Bxw - byz * Byz - byw * Byw + bzw * Bzw,
             -2.0 * (bxy * Bxz + bxw * P + byw * Bzw + byz * S), 2.0 * (-bxy * Bxw + bxz * P + byz * Bzw - byw * S)],
            [2.0 * (bxy * Byz + bxz * S - bxw * Bzw - byw * P), 2.0 * (-bxy * Bxz + bxw * P + byz * S - byw * Bzw),
             diag + bxy * Bxy - bxz * Bxz + bxw * Bxw - byz * Byz + byw * Byw - bzw * Bzw,
             -2.0 * (bxy * P + bxz * Bxw + byz * Byw + bzw * S)],
            [2.0 * (bxy * Byw + bxz * Bzw + bxw * S + byz * P), 2.0 * (-bxy * Bxw - bxz * P + byz * Bzw + byw * S),
             2.0 * (bxy * P - bxz * Bxw - byw * Byz + bzw * S),
             diag + bxy * Bxy + bxz * Bxz - bxw * Bxw + byz * Byz - byw * Byw - bzw * Bzw]], dt)

    @ti.func
    def rotation_4d_rotor(rot8):
        """Duan: R4 = transpose of the table of the normalized rotor (what Duan's code returns and uses)."""
        r = normalize_rotor(rot8)
        return rotor_table(r, r).transpose()

    @ti.func
    def rotation_4d_rotor_vjp(rot8, grad_rot):
        """d<grad_rot, R4>/d rot8 by the bilinear form of the table, then through the normalization."""
        r = normalize_rotor(rot8)
        grad_table = grad_rot.transpose()
        grad_unit = ti.Vector.zero(dt, 8)
        for k in ti.static(range(8)):
            e = ti.Vector.unit(8, k, dt)
            grad_unit[k] = (grad_table * (rotor_table(r, e) + rotor_table(e, r))).sum()
        return normalize_rotor_vjp(rot8, grad_unit)

    @ti.func
    def rotation_4d(rot8, rotation_is_rotor):
        """R4 of either parameterization (reference.rotation_matrix_4d)."""
        rot = ti.Matrix.zero(dt, 4, 4)
        if rotation_is_rotor:
            rot = rotation_4d_rotor(rot8)
        else:
            rot = rotation_4d_dualquat(rot8)
        return rot

    @ti.func
    def rotation_4d_vjp(rot8, rotation_is_rotor, grad_rot):
        """d<grad_rot, R4>/d rot8 for either parameterization."""
        grad = ti.Vector.zero(dt, 8)
        if rotation_is_rotor:
            grad = rotation_4d_rotor_vjp(rot8, grad_rot)
        else:
            grad = rotation_4d_dualquat_vjp(rot8, grad_rot)
        return grad

    @ti.func
    def covariance_4d(log_scale4, rot8, rotation_is_rotor):
        """(R4, exp(log_scale4), M = R4 S4, Sigma4 = M M^T)."""
        rot = rotation_4d(rot8, rotation_is_rotor)
        scale = ti.exp(log_scale4)
        m = ti.Matrix([[rot[i, j] * scale[j] for j in ti.static(range(4))] for i in ti.static(range(4))], dt)
        return rot, scale, m, m @ m.transpose()

    @ti.func
    def slice_with_velocity(mean4, log_scale4, rot8, opacity, t, rotation_is_rotor):
        """slice_at, plus the velocity V / w4 as a fifth result."""
        _rot, _scale, _m, sigma = covariance_4d(log_scale4, rot8, rotation_is_rotor)
        w4 = sigma[3, 3]
        velocity = ti.Vector([sigma[0, 3], sigma[1, 3], sigma[2, 3]], dt) / w4
        cov6 = ti.Vector([sigma[i, j] - sigma[i, 3] * velocity[j] for i, j in ti.static(COV6)], dt)
        dt_ = t - mean4[3]
        mean3 = ti.Vector([mean4[0], mean4[1], mean4[2]], dt) + velocity * dt_
        weight = ti.exp(-0.5 * dt_ * dt_ / w4)
        return mean3, cov6, opacity * weight, weight, velocity

    @ti.func
    def slice_at(mean4, log_scale4, rot8, opacity, t, rotation_is_rotor):
        """One 4D Gaussian at time t -> (mean3, cov6, opacity_t, weight); see make_slice_funcs."""
        mean3, cov6, opacity_t, weight, _velocity = slice_with_velocity(mean4, log_scale4, rot8, opacity, t,
                                                                        rotation_is_rotor)
        return mean3, cov6, opacity_t, weight

    @ti.func
    def slice_at_vjp(mean4, log_scale4, rot8, opacity, t, rotation_is_rotor, grad_mean3, grad_cov6,
                     grad_opacity_t, grad_velocity, min_weight):
        """Backward of slice_at (recomputes the forward); see make_slice_funcs for the contract."""
        _rot, scale, m, sigma = covariance_4d(log_scale4, rot8, rotation_is_rotor)
        w4 = sigma[3, 3]
        col = ti.Vector([sigma[0, 3], sigma[1, 3], sigma[2, 3]], dt)
        velocity = col / w4
        dt_ = t - mean4[3]
        weight = ti.exp(-0.5 * dt_ * dt_ / w4)
        grad_opacity_t = ti.select(weight > min_weight, grad_opacity_t, 0.0)  # culled rows output opacity 0
        grad_weight = grad_opacity_t * opacity
        grad_dt = grad_mean3.dot(velocity) - grad_weight * weight * dt_ / w4
        grad_v = grad_velocity + grad_mean3 * dt_
        grad_sigma = ti.Matrix.zero(dt, 4, 4)  # w.r.t. the upper-triangle entries slice_at reads
        for c in ti.static(range(6)):
            i, j = ti.static(COV6[c])
            grad_sigma[i, j] += grad_cov6[c]
            grad_sigma[i, 3] -= grad_cov6[c] * velocity[j]
            grad_v[j] -= grad_cov6[c] * col[i]
        for i in ti.static(range(3)):
            grad_sigma[i, 3] += grad_v[i] / w4
        grad_sigma[3, 3] = grad_weight * weight * 0.5 * dt_ * dt_ / (w4 * w4) - grad_v.dot(velocity) / w4
        grad_m = (grad_sigma + grad_sigma.transpose()) @ m  # Sigma = M M^T reads each M entry twice
        grad_rot = ti.Matrix([[grad_m[i, j] * scale[j] for j in ti.static(range(4))] for i in ti.static(range(4))], dt)
        grad_log_scale = (grad_m * m).transpose() @ vec4(1.0, 1.0, 1.0, 1.0)  # column sums: d/ds_j of R_ij s_j
        grad_mean4 = vec4(grad_mean3[0], grad_mean3[1], grad_mean3[2], -grad_dt)
        return grad_mean4, grad_log_scale, rotation_4d_vjp(rot8, rotation_is_rotor, grad_rot), grad_opacity_t * weight

    return SimpleNamespace(rotation_4d_dualquat=rotation_4d_dualquat, rotation_4d_rotor=rotation_4d_rotor,
                           normalize_rotor=normalize_rotor, rotation_4d=rotation_4d,
                           rotation_4d_dualquat_vjp=rotation_4d_dualquat_vjp,
                           rotation_4d_rotor_vjp=rotation_4d_rotor_vjp, normalize_rotor_vjp=normalize_rotor_vjp,
                           rotation_4d_vjp=rotation_4d_vjp, slice_with_velocity=slice_with_velocity,
                           slice_at=slice_at, slice_at_vjp=slice_at_vjp)


@functools.cache
def make_slice_kernels(dtype_name: str, generation: int):
    """`slice_fwd` and `slice_bwd` for float32 or float64; `generation` re-keys the cache after a re-init."""
    del generation
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    vec3, vec4, vec6, vec8 = (ti.types.vector(n, dt) for n in (3, 4, 6, 8))
    f = make_slice_funcs(dtype_name)

    @ti.kernel
    def slice_fwd(means4: ti.types.ndarray(vec4, ndim=1),  # [N, 4] x, y, z, t
                  log_scales4: ti.types.ndarray(vec4, ndim=1),  # [N, 4]
                  rotations: ti.types.ndarray(vec8, ndim=1),  # [N, 8] dualquat (q_l, q_r) or rotor
                  opacities: ti.types.ndarray(dt, ndim=1),  # [N] activated
                  time: dt, rotation_is_rotor: ti.i32, min_weight: dt,
                  means3: ti.types.ndarray(vec3, ndim=1),  # [N, 3] out
                  covars: ti.types.ndarray(vec6, ndim=1),  # [N, 6] out: xx, xy, xz, yy, yz, zz
                  opacities_t: ti.types.ndarray(dt, ndim=1),  # [N] out: opacity * p(t), 0 when culled
                  velocities: ti.types.ndarray(vec3, ndim=1),  # [N, 3] out: V / w4
                  visible: ti.types.ndarray(ti.i32, ndim=1)):  # [N] out: p(t) > min_weight
        for i in range(means4.shape[0]):
            mean3, cov6, opacity_t, weight, velocity = f.slice_with_velocity(
                means4[i], log_scales4[i], rotations[i], opacities[i], time, rotation_is_rotor)
            keep = weight > min_weight
            means3[i] = mean3
            covars[i] = cov6
            opacities_t[i] = ti.select(keep, opacity_t, 0.0)
            velocities[i] = velocity
            visible[i] = ti.select(keep, 1, 0)

    @ti.kernel
    def slice_bwd(means4: ti.types.ndarray(vec4, ndim=1), log_scales4: ti.types.ndarray(vec4, ndim=1),
                  rotations: ti.types.ndarray(vec8, ndim=1), opacities: ti.types.ndarray(dt, ndim=1),
                  time: dt, rotation_is_rotor: ti.i32, min_weight: dt,
                  grad_means3: ti.types.ndarray(vec3, ndim=1), grad_covars: ti.types.ndarray(vec6, ndim=1),
                  grad_opacities_t: ti.types.ndarray(dt, ndim=1), grad_velocities: ti.types.ndarray(vec3, ndim=1),
                  grad_means4: ti.types.ndarray(vec4, ndim=1),  # [N, 4] out
                  grad_log_scales4: ti.types.ndarray(vec4, ndim=1),  # [N, 4] out
                  grad_rotations: ti.types.ndarray(vec8, ndim=1),  # [N, 8] out
                  grad_opacities: ti.types.ndarray(dt, ndim=1)):  # [N] out
        for i in range(means4.shape[0]):
            g_mean4, g_log_scale4, g_rot8, g_opacity = f.slice_at_vjp(
                means4[i], log_scales4[i], rotations[i], opacities[i], time, rotation_is_rotor, grad_means3[i],
                grad_covars[i], grad_opacities_t[i], grad_velocities[i], min_weight)
            grad_means4[i] = g_mean4
            grad_log_scales4[i] = g_log_scale4
            grad_rotations[i] = g_rot8
            grad_opacities[i] = g_opacity

    return SimpleNamespace(slice_fwd=fast(slice_fwd), slice_bwd=fast(slice_bwd))
