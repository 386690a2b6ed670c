"""Fused 4D slicing + EWA projection: one kernel per direction, so slicing costs no extra pass or buffer.

Per Gaussian: slice the xyzt Gaussian at time t (slice4d's `slice_at`, REFERENCE 3.3), cull on the temporal
weight, then project the conditional 3D Gaussian (project's `project_cov3`, REFERENCE 2.1). The backward
recomputes the slice and chains the two hand-written VJPs. Packed input rows [N, 17]: mean4 (x, y, z, t),
log_scale4, rot8, opacity.
"""

import functools
import types

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast
from ngfx.kernels.splat.project.kernels import make_project_funcs
from ngfx.kernels.splat.slice4d.kernels import make_slice_funcs

__all__ = ["make_project4d_kernels", "N_IN", "N_OUT"]

N_IN = 17  # mean4, log_scale4, rot8, opacity
N_OUT = 11  # mean2d (2), conic (3), depth, opacity, mean3 (3), weight


@functools.cache
def make_project4d_kernels(dtype_name: str, generation: int) -> types.SimpleNamespace:
    """`fwd` / `bwd` for 'f32' / 'f64'; `generation` re-keys the cache after a Taichi re-init."""
    del generation
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    p, s = make_project_funcs(dtype_name), make_slice_funcs(dtype_name)
    vin, vout, vec2, vec3, vec4, vec8 = (ti.types.vector(k, dt) for k in (N_IN, N_OUT, 2, 3, 4, 8))
    vgrad = ti.types.vector(10, dt)

    @ti.func
    def unpack(row):
        mean4 = vec4(row[0], row[1], row[2], row[3])
        log_scale4 = vec4(row[4], row[5], row[6], row[7])
        rot8 = vec8(row[8], row[9], row[10], row[11], row[12], row[13], row[14], row[15])
        return mean4, log_scale4, rot8, row[16]

    @ti.kernel
    def fwd(params: ti.types.ndarray(vin, ndim=1),  # [N, 17] packed rows
            R_cw: ti.types.matrix(3, 3, dt), t_cw: vec3,  # world -> camera (OpenCV)
            fx: dt, fy: dt, cx: dt, cy: dt, width: dt, height: dt, near: dt, far: dt, radius_sigmas: dt,
            antialiased: ti.i32, time: dt, is_rotor: ti.i32, min_weight: dt,
            out: ti.types.ndarray(vout, ndim=1),  # [N, 11] mean2d, conic, depth, opacity, mean3, weight
            radii: ti.types.ndarray(ti.math.ivec2, ndim=1)):  # [N, 2] (0, 0) = culled
        for n in range(params.shape[0]):
            mean4, log_scale4, rot8, opacity = unpack(params[n])
            mean3, cov6, opacity_t, weight = s.slice_at(mean4, log_scale4, rot8, opacity, time, is_rotor)
            o = vout(0.0)
            r = ti.math.ivec2(0, 0)
            if weight > min_weight:
                mean2d, conic, depth, radius, opacity_out = p.project_cov3(
                    mean3, cov6, opacity_t, R_cw, t_cw, fx, fy, cx, cy, width, height, near, far, radius_sigmas,
                    antialiased)
                o = vout(mean2d[0], mean2d[1], conic[0], conic[1], conic[2], depth, opacity_out,
                         mean3[0], mean3[1], mean3[2], weight)
                r = ti.cast(radius, ti.i32)
            out[n], radii[n] = o, r

    @ti.kernel
    def bwd(params: ti.types.ndarray(vin, ndim=1),  # [N, 17] packed rows
            R_cw: ti.types.matrix(3, 3, dt), t_cw: vec3,
            fx: dt, fy: dt, cx: dt, cy: dt, width: dt, height: dt, near: dt, far: dt, radius_sigmas: dt,
            antialiased: ti.i32, time: dt, is_rotor: ti.i32, min_weight: dt,
            grads: ti.types.ndarray(vgrad, ndim=1),  # [N, 10] cotangents: mean2d, conic, depth, opacity, mean3
            grad_params: ti.types.ndarray(vin, ndim=1)):  # [N, 17] out
        for n in range(params.shape[0]):
            mean4, log_scale4, rot8, opacity = unpack(params[n])
            g = grads[n]
            mean3, cov6, opacity_t, weight = s.slice_at(mean4, log_scale4, rot8, opacity, time, is_rotor)
            out = vin(0.0)
            if weight > min_weight:
                g_mean3, g_cov6, g_opacity_t = p.project_cov3_vjp(
                    mean3, cov6, opacity_t, R_cw, t_cw, fx, fy, cx, cy, width, height, near, far, radius_sigmas,
                    antialiased, vec2(g[0], g[1]), vec3(g[2], g[3], g[4]), g[5], g[6])
                g_mean3 += vec3(g[7], g[8], g[9])  # the sliced means also feed the SH view directions
                g_mean4, g_log_scale4, g_rot8, g_opacity = s.slice_at_vjp(
                    mean4, log_scale4, rot8, opacity, time, is_rotor, g_mean3, g_cov6, g_opacity_t,
                    vec3(0.0, 0.0, 0.0), min_weight)
                for k in ti.static(range(4)):
                    out[k], out[4 + k] = g_mean4[k], g_log_scale4[k]
                for k in ti.static(range(8)):
                    out[8 + k] = g_rot8[k]
                out[16] = g_opacity
            grad_params[n] = out

    return types.SimpleNamespace(fwd=fast(fwd), bwd=fast(bwd))
