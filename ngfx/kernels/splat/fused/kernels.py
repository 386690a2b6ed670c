"""Fused per-Gaussian preprocess for rendering: opacity activation, covariance, EWA projection and SH colour
in one kernel, written straight into the rasterizer's packed rows (no torch.cat, one launch each way).

It composes the same `ti.func`s as the separate ops (project.make_project_funcs, sh.make_sh_funcs, and for
4D slice4d.make_slice_funcs), so it computes exactly what project -> sh would; the tests compare the two.
Output row [GEO + 3 + 1]: mean2d (2), conic (3), opacity (1), rgb (3), depth (1); zeros when culled.
"""

import functools
import types

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast
from ngfx.kernels.splat.project.kernels import make_project_funcs
from ngfx.kernels.splat.sh.kernels import MIN_DISTANCE, make_sh_funcs
from ngfx.kernels.splat.slice4d.kernels import make_slice_funcs
from ngfx.kernels.splat.tiles.kernels import make_tile_funcs

__all__ = ["ROW", "make_fused_kernels"]

ROW = 10  # mean2d 2, conic 3, opacity 1, rgb 3, depth 1 (the rasterizer's packed layout with F = 3)
TILE = 16  # tile side of the rectangles written for the tile binning (the rasterizer's tiles)


@functools.cache
def make_fused_kernels(dtype_name: str, generation: int) -> types.SimpleNamespace:
    """`fwd3d` / `bwd3d` (static) and `fwd4d` / `bwd4d` (xyzt, SH without temporal bands) for 'f32' / 'f64'."""
    del generation
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    p, s, sl = make_project_funcs(dtype_name), make_sh_funcs(dtype_name), make_slice_funcs(dtype_name)
    vec2, vec3, vec4, vec8, vec16, vrow = (ti.types.vector(k, dt) for k in (2, 3, 4, 8, 16, ROW))
    rect_of = make_tile_funcs(dtype_name)
    ivec5 = ti.types.vector(5, ti.i32)
    arr = ti.types.ndarray

    @ti.func
    def coeffs_of(sh_dc: ti.template(), sh_rest: ti.template(), n, c, nb):
        """SH coefficients of channel c (DC from sh_dc, the rest from sh_rest), zero beyond nb."""
        a = vec16(0.0)
        a[0] = sh_dc[n, 0, c]
        for k in ti.static(range(1, 16)):
            if k < nb:
                a[k] = sh_rest[n, k - 1, c]
        return a

    @ti.func
    def rgb_of(mean, cam, sh_dc: ti.template(), sh_rest: ti.template(), n, nb):
        d, _r, _norm = s.direction(mean, cam)
        y = s.basis(d)
        rgb = vec3(0.0)
        for c in ti.static(range(3)):
            rgb[c] = ti.max(coeffs_of(sh_dc, sh_rest, n, c, nb).dot(y) + 0.5, 0.0)
        return rgb

    @ti.func
    def rgb_vjp(mean, cam, sh_dc: ti.template(), sh_rest: ti.template(), n, nb, n_rest, g_rgb,
                grad_dc: ti.template(), grad_rest: ti.template()):
        """Writes the coefficient gradients of row n; returns the gradient of the mean (through d)."""
        d, r, norm = s.direction(mean, cam)
        y = s.basis(d)
        g_d = vec3(0.0)
        for c in ti.static(range(3)):
            a = coeffs_of(sh_dc, sh_rest, n, c, nb)
            g = g_rgb[c] if a.dot(y) + 0.5 >= 0 else ti.cast(0.0, dt)  # clamped channels pass nothing
            g_d += g * s.basis_vjp(d, a)
            grad_dc[n, 0, c] = g * y[0]
            for k in ti.static(range(1, 16)):
                if k <= n_rest:
                    grad_rest[n, k - 1, c] = g * y[k] if k < nb else ti.cast(0.0, dt)
        if norm > dt(MIN_DISTANCE):
            g_d -= d * d.dot(g_d)
        return g_d / r

    @ti.func
    def zero_sh_grads(n, n_rest, grad_dc: ti.template(), grad_rest: ti.template()):
        for c in ti.static(range(3)):
            grad_dc[n, 0, c] = 0.0
            for k in range(n_rest):
                grad_rest[n, k, c] = 0.0

    @ti.func
    def splat_row(mean, cov6, o, R_cw, t_cw, cam, fx: dt, fy: dt, cx: dt, cy: dt, width: dt, height: dt, near: dt,
                  far: dt, radius_sigmas: dt, antialiased: ti.i32, sh_dc: ti.template(), sh_rest: ti.template(), n,
                  nb):
        """(packed row, radius) of one world Gaussian: projection, then SH colour where it survived."""
        mean2d, conic, depth, radius, o_out = p.project_cov3(mean, cov6, o, R_cw, t_cw, fx, fy, cx, cy, width,
                                                             height, near, far, radius_sigmas, antialiased)
        row = vrow(0.0)
        if radius.x > 0 or radius.y > 0:
            rgb = rgb_of(mean, cam, sh_dc, sh_rest, n, nb)
            row = vrow(mean2d[0], mean2d[1], conic[0], conic[1], conic[2], o_out, rgb[0], rgb[1], rgb[2], depth)
        return row, radius

    @ti.func
    def store(n, row, radius, tiles_x, tiles_y, rows: ti.template(), radii: ti.template(), rects: ti.template()):
        """Write row n, its integer radii and its tile rectangle (the binning then skips its counting pass)."""
        r = ti.cast(radius, ti.i32)
        rows[n], radii[n] = row, r
        rects[n] = rect_of(vec2(row[0], row[1]), r, TILE, tiles_x, tiles_y)

    @ti.func
    def add_stats(n, g, radius, width: dt, height: dt, stats_scale: dt, stats: ti.template()):
        """Densification statistics of row n (ngfx.splatting.strategy, step 1) when stats_scale > 0 and both
        integer radii are positive: += |d loss / d mean2d| in NDC units times stats_scale, += 1 view, running
        max of the screen radius. stats [4, N]: grad2d, grad_t (untouched here), count, max_radii."""
        r = ti.cast(radius, ti.i32)
        if stats_scale > 0 and r.x > 0 and r.y > 0:
            ndc = vec2(g[0] * width, g[1] * height) * (0.5 * stats_scale)
            stats[0, n] += ndc.norm()
            stats[2, n] += 1.0
            stats[3, n] = ti.max(stats[3, n], ti.cast(ti.max(r.x, r.y), dt))

    @ti.func
    def sigmoid(x):
        return 1.0 / (1.0 + ti.exp(-x))

    @ti.kernel
    def fwd3d(means: arr(vec3, ndim=1), log_scales: arr(vec3, ndim=1), quats: arr(vec4, ndim=1),  # [N] each
              opacity_logits: arr(dt, ndim=1),  # [N]
              sh_dc: arr(dt, ndim=3), sh_rest: arr(dt, ndim=3),  # [N, 1, 3], [N, K - 1 (or dummy), 3]
              R_cw: ti.types.matrix(3, 3, dt), t_cw: vec3, cam: vec3,  # world -> camera; camera centre
              fx: dt, fy: dt, cx: dt, cy: dt, width: dt, height: dt, near: dt, far: dt, radius_sigmas: dt,
              antialiased: ti.i32, nb: ti.i32, tiles_x: ti.i32, tiles_y: ti.i32,
              rows: arr(vrow, ndim=1),  # [N, ROW] out
              radii: arr(ti.math.ivec2, ndim=1),  # [N, 2] out, (0, 0) = culled
              rects: arr(ivec5, ndim=1)):  # [N, 5] out: tile rectangle x0, y0, x1, y1 and its tile count
        for n in range(means.shape[0]):
            mean, o = means[n], sigmoid(opacity_logits[n])
            cov6 = p.cov3_from_scale_quat(log_scales[n], quats[n])
            row, radius = splat_row(mean, cov6, o, R_cw, t_cw, cam, fx, fy, cx, cy, width, height, near, far,
                                    radius_sigmas, antialiased, sh_dc, sh_rest, n, nb)
            store(n, row, radius, tiles_x, tiles_y, rows, radii, rects)

    @ti.kernel
    def bwd3d(means: arr(vec3, ndim=1), log_scales: arr(vec3, ndim=1), quats: arr(vec4, ndim=1),
              opacity_logits: arr(dt, ndim=1), sh_dc: arr(dt, ndim=3), sh_rest: arr(dt, ndim=3),
              R_cw: ti.types.matrix(3, 3, dt), t_cw: vec3, cam: vec3,
              fx: dt, fy: dt, cx: dt, cy: dt, width: dt, height: dt, near: dt, far: dt, radius_sigmas: dt,
              antialiased: ti.i32, nb: ti.i32, n_rest: ti.i32,  # n_rest: real rows of sh_rest (0: dummy)
              stats_scale: dt,  # > 0: add the densification statistics to stats (add_stats); 0: leave them
              grad_rows: arr(vrow, ndim=1),  # [N, ROW] cotangent
              grad_means: arr(vec3, ndim=1), grad_log_scales: arr(vec3, ndim=1), grad_quats: arr(vec4, ndim=1),
              grad_logits: arr(dt, ndim=1), grad_dc: arr(dt, ndim=3), grad_rest: arr(dt, ndim=3),  # out
              stats: arr(dt, ndim=2)):  # [4, N] in/out (a [4, 1] dummy when stats_scale is 0)
        for n in range(means.shape[0]):
            mean, ls, q, o = means[n], log_scales[n], quats[n], sigmoid(opacity_logits[n])
            cov6 = p.cov3_from_scale_quat(ls, q)
            g = grad_rows[n]
            g_mean, g_cov6, g_o = p.project_cov3_vjp(
                mean, cov6, o, R_cw, t_cw, fx, fy, cx, cy, width, height, near, far, radius_sigmas, antialiased,
                vec2(g[0], g[1]), vec3(g[2], g[3], g[4]), g[9], g[5])
            g_ls, g_q = p.cov3_from_scale_quat_vjp(ls, q, g_cov6)
            _m, _c, _d, radius, _o = p.project_cov3(mean, cov6, o, R_cw, t_cw, fx, fy, cx, cy, width, height,
                                                    near, far, radius_sigmas, antialiased)
            if radius.x > 0 or radius.y > 0:
                g_mean += rgb_vjp(mean, cam, sh_dc, sh_rest, n, nb, n_rest, vec3(g[6], g[7], g[8]), grad_dc,
                                  grad_rest)
            else:
                zero_sh_grads(n, n_rest, grad_dc, grad_rest)
            grad_means[n], grad_log_scales[n], grad_quats[n] = g_mean, g_ls, g_q
            grad_logits[n] = g_o * o * (1.0 - o)
            add_stats(n, g, radius, width, height, stats_scale, stats)

    @ti.func
    def unpack4(means4: ti.template(), log_scales4: ti.template(), rotations: ti.template(), n):
        m, ls, r = means4[n], log_scales4[n], rotations[n]
        return m, ls, r

    @ti.kernel
    def fwd4d(means4: arr(vec4, ndim=1), log_scales4: arr(vec4, ndim=1), rotations: arr(vec8, ndim=1),  # [N]
              opacity_logits: arr(dt, ndim=1), sh_dc: arr(dt, ndim=3), sh_rest: arr(dt, ndim=3),
              R_cw: ti.types.matrix(3, 3, dt), t_cw: vec3, cam: vec3,
              fx: dt, fy: dt, cx: dt, cy: dt, width: dt, height: dt, near: dt, far: dt, radius_sigmas: dt,
              antialiased: ti.i32, nb: ti.i32, tiles_x: ti.i32, tiles_y: ti.i32, time: dt, is_rotor: ti.i32,
              min_weight: dt,
              rows: arr(vrow, ndim=1), radii: arr(ti.math.ivec2, ndim=1), rects: arr(ivec5, ndim=1)):  # as fwd3d
        for n in range(means4.shape[0]):
            m4, ls4, r8 = unpack4(means4, log_scales4, rotations, n)
            o = sigmoid(opacity_logits[n])
            mean3, cov6, o_t, weight = sl.slice_at(m4, ls4, r8, o, time, is_rotor)
            row, radius = vrow(0.0), vec2(0.0, 0.0)
            if weight > min_weight:
                row, radius = splat_row(mean3, cov6, o_t, R_cw, t_cw, cam, fx, fy, cx, cy, width, height, near,
                                        far, radius_sigmas, antialiased, sh_dc, sh_rest, n, nb)
            store(n, row, radius, tiles_x, tiles_y, rows, radii, rects)

    @ti.kernel
    def bwd4d(means4: arr(vec4, ndim=1), log_scales4: arr(vec4, ndim=1), rotations: arr(vec8, ndim=1),
              opacity_logits: arr(dt, ndim=1), sh_dc: arr(dt, ndim=3), sh_rest: arr(dt, ndim=3),
              R_cw: ti.types.matrix(3, 3, dt), t_cw: vec3, cam: vec3,
              fx: dt, fy: dt, cx: dt, cy: dt, width: dt, height: dt, near: dt, far: dt, radius_sigmas: dt,
              antialiased: ti.i32, nb: ti.i32, n_rest: ti.i32, time: dt, is_rotor: ti.i32, min_weight: dt,
              stats_scale: dt, grad_rows: arr(vrow, ndim=1),
              grad_means4: arr(vec4, ndim=1), grad_log_scales4: arr(vec4, ndim=1), grad_rotations: arr(vec8, ndim=1),
              grad_logits: arr(dt, ndim=1), grad_dc: arr(dt, ndim=3), grad_rest: arr(dt, ndim=3),  # out
              stats: arr(dt, ndim=2)):  # as bwd3d
        for n in range(means4.shape[0]):
            m4, ls4, r8 = unpack4(means4, log_scales4, rotations, n)
            o = sigmoid(opacity_logits[n])
            g = grad_rows[n]
            mean3, cov6, o_t, weight = sl.slice_at(m4, ls4, r8, o, time, is_rotor)
            g_m4, g_ls4, g_r8, g_o = vec4(0.0), vec4(0.0), vec8(0.0), ti.cast(0.0, dt)
            visible, radius = False, vec2(0.0, 0.0)
            if weight > min_weight:
                _m, _c, _d, radius, _o = p.project_cov3(mean3, cov6, o_t, R_cw, t_cw, fx, fy, cx, cy, width, height,
                                                        near, far, radius_sigmas, antialiased)
                visible = radius.x > 0 or radius.y > 0
            if visible:
                g_mean3, g_cov6, g_ot = p.project_cov3_vjp(
                    mean3, cov6, o_t, R_cw, t_cw, fx, fy, cx, cy, width, height, near, far, radius_sigmas,
                    antialiased, vec2(g[0], g[1]), vec3(g[2], g[3], g[4]), g[9], g[5])
                g_mean3 += rgb_vjp(mean3, cam, sh_dc, sh_rest, n, nb, n_rest, vec3(g[6], g[7], g[8]), grad_dc,
                                   grad_rest)
                g_m4, g_ls4, g_r8, g_o = sl.slice_at_vjp(m4, ls4, r8, o, time, is_rotor, g_mean3, g_cov6, g_ot,
                                                         vec3(0.0), min_weight)
            else:
                zero_sh_grads(n, n_rest, grad_dc, grad_rest)
            grad_means4[n], grad_log_scales4[n], grad_rotations[n] = g_m4, g_ls4, g_r8
            grad_logits[n] = g_o * o * (1.0 - o)
            add_stats(n, g, radius, width, height, stats_scale, stats)

    return types.SimpleNamespace(fwd3d=fast(fwd3d), bwd3d=fast(bwd3d), fwd4d=fast(fwd4d), bwd4d=fast(bwd4d))
