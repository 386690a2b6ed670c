"""Taichi kernels of the 3D Gaussian projection (EWA splatting; REFERENCE 2.1 and 2.6, DESIGN.md "project").

`make_project_funcs(dtype_name)` holds the per-Gaussian math and its hand-written reverse (vjp) as @ti.func's,
so other kernels (the fused 4D slice + projection) can call them; `make_project_kernels` wraps them in a
forward and a backward parallel-for kernel per input form (log-scales + quats, or 6-entry covariances).

Conventions: OpenCV camera (x right, y down, z forward), world-to-camera p = R_cw mu + t_cw, pixel centres
at (i + 0.5, j + 0.5), quats wxyz (normalised here), covariances packed (xx, xy, xz, yy, yz, zz).
Every culling test is an `if` around the code it protects, so nothing divides by a culled z or takes sqrt(0)
(Taichi autodiff of a caller's kernel would turn those into 0 * inf = NaN); culled Gaussians get zero
gradients.
Inexact constants are written dt(c): Taichi rounds a bare Python float literal to f32 even in f64 code.
"""

import functools
import types

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast

__all__ = ["ALPHA_MIN", "EPS2D", "FOV_MARGIN", "make_project_funcs", "make_project_kernels"]

ALPHA_MIN = 1.0 / 255.0  # the rasterizer skips alpha below this, so dimmer Gaussians are culled here
EPS2D = 0.3  # screen-space dilation (low-pass filter), pixels^2
FOV_MARGIN = 0.3  # Jacobian clamp: the view frustum widened by 30 % of tan(fov / 2) on each side


@functools.cache
def make_project_funcs(dtype_name: str) -> types.SimpleNamespace:
    """@ti.func's for float32 or float64 ('f32' / 'f64'), see each docstring: quat_to_rotmat,
    cov3_from_scale_quat, cov6_to_mat3, jacobian, project_cov3 and the reverses project_cov3_vjp,
    cov3_from_scale_quat_vjp. Holds no compiled state, so it survives a Taichi re-init."""
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    vec2, vec3, vec6 = (ti.types.vector(n, dt) for n in (2, 3, 6))

    @ti.func
    def quat_to_rotmat(quat):
        """Rotation matrix of an unnormalised wxyz quaternion (must be non-zero)."""
        q = quat / quat.norm()
        w, x, y, z = q[0], q[1], q[2], q[3]
        return ti.Matrix([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                          [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                          [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]], dt)

    @ti.func
    def cov3_from_scale_quat(log_scale, quat):
        """World covariance R S S^T R^T, S = diag(exp(log_scale)), packed (xx, xy, xz, yy, yz, zz)."""
        s = ti.exp(log_scale)
        m = quat_to_rotmat(quat) @ ti.Matrix([[s[0], 0.0, 0.0], [0.0, s[1], 0.0], [0.0, 0.0, s[2]]], dt)
        c = m @ m.transpose()
        return vec6(c[0, 0], c[0, 1], c[0, 2], c[1, 1], c[1, 2], c[2, 2])

    @ti.func
    def cov6_to_mat3(cov6):
        """Symmetric 3x3 matrix from its packed upper triangle (xx, xy, xz, yy, yz, zz)."""
        return ti.Matrix([[cov6[0], cov6[1], cov6[2]],
                          [cov6[1], cov6[3], cov6[4]],
                          [cov6[2], cov6[4], cov6[5]]], dt)

    @ti.func
    def jacobian(p_cam, fx: dt, fy: dt, cx: dt, cy: dt, width: dt, height: dt):
        """Perspective Jacobian [2, 3] at camera-frame p_cam (z > 0); also tx, ty and whether each is free.

        x/z and y/z are clamped to the frustum widened by FOV_MARGIN (generalised to an off-centre principal
        point, as gsplat 1.x) for the Jacobian only: far off-axis Gaussians would otherwise get huge,
        needle-like footprints. The projected mean is not clamped.
        """
        rz = 1.0 / p_cam.z
        tan_x, tan_y = 0.5 * width / fx, 0.5 * height / fy
        lim_x_pos, lim_x_neg = (width - cx) / fx + dt(FOV_MARGIN) * tan_x, cx / fx + dt(FOV_MARGIN) * tan_x
        lim_y_pos, lim_y_neg = (height - cy) / fy + dt(FOV_MARGIN) * tan_y, cy / fy + dt(FOV_MARGIN) * tan_y
        u, v = p_cam.x * rz, p_cam.y * rz
        free_x = -lim_x_neg <= u <= lim_x_pos
        free_y = -lim_y_neg <= v <= lim_y_pos
        tx = p_cam.z * ti.min(lim_x_pos, ti.max(-lim_x_neg, u))
        ty = p_cam.z * ti.min(lim_y_pos, ti.max(-lim_y_neg, v))
        jac = ti.Matrix([[fx * rz, 0.0, -fx * tx * rz * rz], [0.0, fy * rz, -fy * ty * rz * rz]], dt)
        return jac, tx, ty, free_x, free_y

    @ti.func
    def project_cov3(mean_world, cov6, opacity, R_cw, t_cw, fx: dt, fy: dt, cx: dt, cy: dt, width: dt,
                     height: dt, near: dt, far: dt, radius_sigmas: dt, antialiased: ti.i32):
        """One world Gaussian -> (mean2d vec2 px, conic vec3 (a, b, c), depth, radius vec2, opacity_out).

        conic is the inverse of the dilated Sigma2 = J W Sigma W^T J^T + EPS2D I; antialiased multiplies the
        opacity by rho = sqrt(det Sigma2_raw / det Sigma2_dilated). radius holds whole pixels per axis (as dt:
        cast to i32); a culled Gaussian returns all zeros (radius (0, 0), opacity_out 0). Culled when
        z <= near or z >= far, det <= 0, opacity_out < ALPHA_MIN, or its box misses the image.
        """
        mean2d, conic, radius = vec2(0.0, 0.0), vec3(0.0, 0.0, 0.0), vec2(0.0, 0.0)
        depth, opacity_out = ti.cast(0.0, dt), ti.cast(0.0, dt)
        p = R_cw @ mean_world + t_cw
        if p.z > near and p.z < far:
            jac, _tx, _ty, _fx, _fy = jacobian(p, fx, fy, cx, cy, width, height)
            s2 = jac @ (R_cw @ cov6_to_mat3(cov6) @ R_cw.transpose()) @ jac.transpose()  # undilated
            det_raw = s2[0, 0] * s2[1, 1] - s2[0, 1] * s2[0, 1]
            a, b, c = s2[0, 0] + dt(EPS2D), s2[0, 1], s2[1, 1] + dt(EPS2D)
            det = a * c - b * b
            if det > 0:
                rho = ti.cast(1.0, dt)
                if antialiased != 0:
                    rho = 0.0
                    if det_raw > 0:  # sqrt only of a positive ratio: its derivative at 0 is infinite
                        rho = ti.sqrt(det_raw / det)
                o = opacity * rho
                if o >= dt(ALPHA_MIN):
                    # Beyond `extent` sigmas alpha = o exp(-extent^2 / 2) < 1/255, so the box loses nothing.
                    extent = ti.min(radius_sigmas, ti.sqrt(2.0 * ti.log(255.0 * o)))
                    r = ti.ceil(extent * ti.sqrt(vec2(a, c)))
                    rz = 1.0 / p.z  # gsplat's order of operations, for float32 parity
                    m = vec2(fx * p.x * rz + cx, fy * p.y * rz + cy)
                    on_image = m.x + r.x > 0 and m.x - r.x < width and m.y + r.y > 0 and m.y - r.y < height
                    if on_image and (r.x > 0 or r.y > 0):
                        mean2d, conic, radius = m, vec3(c, -b, a) * (1.0 / det), r  # as glm::inverse
                        depth, opacity_out = p.z, o
        return mean2d, conic, depth, radius, opacity_out

    @ti.func
    def conic_vjp(conic, g_conic):
        """Gradient of conic (A, B, C) = inverse of [[a, b], [b, c]] w.r.t. (a, b, c), b counted once."""
        A, B, C = conic[0], conic[1], conic[2]
        return vec3(-A * A * g_conic[0] - A * B * g_conic[1] - B * B * g_conic[2],
                    -2.0 * A * B * g_conic[0] - (A * C + B * B) * g_conic[1] - 2.0 * B * C * g_conic[2],
                    -B * B * g_conic[0] - B * C * g_conic[1] - C * C * g_conic[2])

    @ti.func
    def jacobian_vjp(p_cam, G_J, tx: dt, ty: dt, free_x, free_y, fx: dt, fy: dt):
        """Gradient w.r.t. p_cam through J's entries, given G_J [2, 3]. Clamped: tx = z L, d/dx 0, d/dz L."""
        rz = 1.0 / p_cam.z
        gx = -fx * rz * rz * G_J[0, 2] if free_x else 0.0
        gy = -fy * rz * rz * G_J[1, 2] if free_y else 0.0
        kx = 2.0 if free_x else 1.0  # J02 = -fx x / z^2 unclamped, -fx L / z clamped
        ky = 2.0 if free_y else 1.0
        gz = -rz * rz * (fx * G_J[0, 0] + fy * G_J[1, 1])
        gz += rz * rz * rz * (kx * fx * tx * G_J[0, 2] + ky * fy * ty * G_J[1, 2])
        return vec3(gx, gy, gz)

    @ti.func
    def project_cov3_vjp(mean_world, cov6, opacity, R_cw, t_cw, fx: dt, fy: dt, cx: dt, cy: dt, width: dt,
                         height: dt, near: dt, far: dt, radius_sigmas: dt, antialiased: ti.i32,
                         g_mean2d, g_conic, g_depth, g_opacity):
        """Reverse of project_cov3 (its inputs, then the output cotangents) -> (g_mean_world vec3, g_cov6 vec6
        w.r.t. the six packed entries, g_opacity). Recomputes the forward; culled Gaussians get zeros."""
        g_mean, g_cov6, g_op = vec3(0.0, 0.0, 0.0), vec6(0.0, 0.0, 0.0, 0.0, 0.0, 0.0), ti.cast(0.0, dt)
        _m, conic, _d, radius, _o = project_cov3(mean_world, cov6, opacity, R_cw, t_cw, fx, fy, cx, cy, width,
                                                 height, near, far, radius_sigmas, antialiased)
        if radius.x > 0 or radius.y > 0:
            p = R_cw @ mean_world + t_cw
            cov_cam = R_cw @ cov6_to_mat3(cov6) @ R_cw.transpose()
            jac, tx, ty, free_x, free_y = jacobian(p, fx, fy, cx, cy, width, height)
            s2 = jac @ cov_cam @ jac.transpose()
            g_s2 = conic_vjp(conic, g_conic)
            rho = ti.cast(1.0, dt)
            if antialiased != 0:  # rho = sqrt(det_raw / det) > 0 here, else the Gaussian was culled
                ar, b, cr = s2[0, 0], s2[0, 1], s2[1, 1]
                a, c = ar + dt(EPS2D), cr + dt(EPS2D)
                det = a * c - b * b
                rho = ti.sqrt((ar * cr - b * b) / det)
                # d(rho^2) written as sums of positive terms: the quotient rule's difference of two large
                # terms loses all float32 digits for Gaussians much larger than a pixel.
                k = 0.5 * g_opacity * opacity / rho * dt(EPS2D) / (det * det)
                g_s2 += k * vec3(c * cr + b * b, -2.0 * b * (ar + cr + dt(EPS2D)), a * ar + b * b)
            g_op = g_opacity * rho
            G2 = ti.Matrix([[g_s2[0], 0.5 * g_s2[1]], [0.5 * g_s2[1], g_s2[2]]], dt)  # symmetric split of b
            g_p = jacobian_vjp(p, 2.0 * G2 @ jac @ cov_cam, tx, ty, free_x, free_y, fx, fy)
            rz = 1.0 / p.z
            g_p += vec3(fx * rz * g_mean2d[0], fy * rz * g_mean2d[1],
                        g_depth - rz * rz * (fx * p.x * g_mean2d[0] + fy * p.y * g_mean2d[1]))
            g_mean = R_cw.transpose() @ g_p
            G = R_cw.transpose() @ (jac.transpose() @ G2 @ jac) @ R_cw
            g_cov6 = vec6(G[0, 0], G[0, 1] + G[1, 0], G[0, 2] + G[2, 0], G[1, 1], G[1, 2] + G[2, 1], G[2, 2])
        return g_mean, g_cov6, g_op

    @ti.func
    def cov3_from_scale_quat_vjp(log_scale, quat, g_cov6):
        """Reverse of cov3_from_scale_quat -> (g_log_scale vec3, g_quat vec4 w.r.t. the unnormalised quat)."""
        norm = quat.norm()
        w, x, y, z = quat[0] / norm, quat[1] / norm, quat[2] / norm, quat[3] / norm
        R = quat_to_rotmat(quat)
        s = ti.exp(log_scale)
        G = ti.Matrix([[g_cov6[0], 0.5 * g_cov6[1], 0.5 * g_cov6[2]],
                       [0.5 * g_cov6[1], g_cov6[3], 0.5 * g_cov6[4]],
                       [0.5 * g_cov6[2], 0.5 * g_cov6[4], g_cov6[5]]], dt)
        S = ti.Matrix([[s[0], 0.0, 0.0], [0.0, s[1], 0.0], [0.0, 0.0, s[2]]], dt)
        G_M = 2.0 * G @ R @ S  # Sigma = M M^T with M = R S
        g_log_scale = vec3(0.0, 0.0, 0.0)
        for j in ti.static(range(3)):
            g_log_scale[j] = s[j] * (G_M[0, j] * R[0, j] + G_M[1, j] * R[1, j] + G_M[2, j] * R[2, j])
        g = G_M @ S  # gradient w.r.t. R
        g_q = 2.0 * ti.Vector([
            -z * g[0, 1] + y * g[0, 2] + z * g[1, 0] - x * g[1, 2] - y * g[2, 0] + x * g[2, 1],
            y * g[0, 1] + z * g[0, 2] + y * g[1, 0] - w * g[1, 2] + z * g[2, 0] + w * g[2, 1]
            - 2 * x * (g[1, 1] + g[2, 2]),
            x * g[0, 1] + w * g[0, 2] + x * g[1, 0] + z * g[1, 2] - w * g[2, 0] + z * g[2, 1]
            - 2 * y * (g[0, 0] + g[2, 2]),
            -w * g[0, 1] + x * g[0, 2] + w * g[1, 0] + y * g[1, 2] + x * g[2, 0] + y * g[2, 1]
            - 2 * z * (g[0, 0] + g[1, 1]),
        ], dt)
        q = ti.Vector([w, x, y, z], dt)
        return g_log_scale, (g_q - q * q.dot(g_q)) / norm  # through the normalisation q / |q|

    return types.SimpleNamespace(quat_to_rotmat=quat_to_rotmat, cov3_from_scale_quat=cov3_from_scale_quat,
                                 cov6_to_mat3=cov6_to_mat3, jacobian=jacobian, project_cov3=project_cov3,
                                 project_cov3_vjp=project_cov3_vjp,
                                 cov3_from_scale_quat_vjp=cov3_from_scale_quat_vjp)


@functools.cache
def make_project_kernels(dtype_name: str, from_covars: bool, generation: int) -> types.SimpleNamespace:
    """`fwd` and `bwd` kernels for 'f32' / 'f64'; `generation` re-keys the cache after a Taichi re-init.

    Packed per-Gaussian input rows (one tensor argument, as launches cost per argument on CUDA):
    from_covars=False: [N, 11] mean xyz, log_scale xyz, quat wxyz, opacity;
    from_covars=True:  [N, 10] mean xyz, covariance (xx, xy, xz, yy, yz, zz), opacity.
    `bwd` takes the same camera arguments, the packed cotangents [N, 7] (mean2d xy, conic abc, depth,
    opacity) and writes the gradient of each packed input row. It is hand-written: Taichi's autodiff of
    `fwd` is right but took 45-70 s to compile on the CPU, against a few seconds for this kernel.
    """
    del generation
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    f = make_project_funcs(dtype_name)
    n_in = 10 if from_covars else 11
    vec_in, vec2, vec3, vec7 = (ti.types.vector(k, dt) for k in (n_in, 2, 3, 7))

    @ti.func
    def unpack(row):
        """(mean, cov6, log_scale, quat) of a packed row; log_scale and quat are zeros with covariances."""
        log_scale, quat = vec3(0.0, 0.0, 0.0), ti.Vector([0.0, 0.0, 0.0, 0.0], dt)
        cov6 = ti.Vector([0.0] * 6, dt)
        if ti.static(from_covars):
            cov6 = ti.Vector([row[3], row[4], row[5], row[6], row[7], row[8]], dt)
        else:
            log_scale, quat = vec3(row[3], row[4], row[5]), ti.Vector([row[6], row[7], row[8], row[9]], dt)
            cov6 = f.cov3_from_scale_quat(log_scale, quat)
        return vec3(row[0], row[1], row[2]), cov6, log_scale, quat

    @ti.kernel
    def project_fwd(params: ti.types.ndarray(vec_in, ndim=1),  # [N, n_in] packed rows
                    R_cw: ti.types.matrix(3, 3, dt), t_cw: vec3,  # world -> camera (OpenCV)
                    fx: dt, fy: dt, cx: dt, cy: dt, width: dt, height: dt, near: dt, far: dt,
                    radius_sigmas: dt, antialiased: ti.i32,
                    means2d: ti.types.ndarray(vec2, ndim=1),  # [N, 2] out, pixels
                    conics: ti.types.ndarray(vec3, ndim=1),  # [N, 3] out, (a, b, c)
                    depths: ti.types.ndarray(dt, ndim=1),  # [N] out, camera z
                    radii: ti.types.ndarray(ti.math.ivec2, ndim=1),  # [N, 2] out, (0, 0) = culled
                    opacities: ti.types.ndarray(dt, ndim=1)):  # [N] out, times rho if antialiased
        for n in range(params.shape[0]):
            row = params[n]
            mean, cov6, _s, _q = unpack(row)
            mean2d, conic, depth, radius, opacity = f.project_cov3(
                mean, cov6, row[n_in - 1], R_cw, t_cw, fx, fy, cx, cy, width, height, near, far,
                radius_sigmas, antialiased)
            means2d[n], conics[n], depths[n], opacities[n] = mean2d, conic, depth, opacity
            radii[n] = ti.cast(radius, ti.i32)

    @ti.kernel
    def project_bwd(params: ti.types.ndarray(vec_in, ndim=1),  # [N, n_in] packed rows
                    R_cw: ti.types.matrix(3, 3, dt), t_cw: vec3,
                    fx: dt, fy: dt, cx: dt, cy: dt, width: dt, height: dt, near: dt, far: dt,
                    radius_sigmas: dt, antialiased: ti.i32,
                    grads: ti.types.ndarray(vec7, ndim=1),  # [N, 7] cotangents of the outputs
                    grad_params: ti.types.ndarray(vec_in, ndim=1)):  # [N, n_in] out
        for n in range(params.shape[0]):
            row, g = params[n], grads[n]
            mean, cov6, log_scale, quat = unpack(row)
            g_mean, g_cov6, g_opacity = f.project_cov3_vjp(
                mean, cov6, row[n_in - 1], R_cw, t_cw, fx, fy, cx, cy, width, height, near, far,
                radius_sigmas, antialiased, vec2(g[0], g[1]), vec3(g[2], g[3], g[4]), g[5], g[6])
            out = vec_in(0.0)
            for k in ti.static(range(3)):
                out[k] = g_mean[k]
            if ti.static(from_covars):
                for k in ti.static(range(6)):
                    out[3 + k] = g_cov6[k]
            else:
                g_log_scale, g_quat = f.cov3_from_scale_quat_vjp(log_scale, quat, g_cov6)
                for k in ti.static(range(3)):
                    out[3 + k] = g_log_scale[k]
                for k in ti.static(range(4)):
                    out[6 + k] = g_quat[k]
            out[n_in - 1] = g_opacity
            grad_params[n] = out

    return types.SimpleNamespace(fwd=fast(project_fwd), bwd=fast(project_bwd), n_in=n_in)
