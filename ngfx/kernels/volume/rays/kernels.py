"""Taichi kernels of camera-ray generation (reference.py has the convention), one thread per ray.

`grid` makes the ray through every pixel centre (i + 0.5, j + 0.5) of a width x height image, row-major
(ray j * width + i), without a pixel-coordinate array; `points` makes one ray per given image point (u, v).
Both write world origins (the camera centre) and unit world directions; forward only.
"""

import functools
import types

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast

__all__ = ["make_ray_kernels"]


@functools.cache
def make_ray_kernels(dtype_name: str, generation: int) -> types.SimpleNamespace:
    """`grid` and `points` for 'f32' / 'f64' rays; `generation` re-keys the cache after a re-init.
    (No compile-time knobs, hence no config.)"""
    del generation
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    vec2, vec3 = ti.types.vector(2, dt), ti.types.vector(3, dt)
    arr = ti.types.ndarray

    @ti.func
    def write_ray(k, u, v, pose: ti.template(), fx, fy, cx, cy, origins: ti.template(),
                  directions: ti.template()):
        """Ray k through image point (u, v): camera direction rotated into the world, then normalised
        (normalising after the rotation keeps directions unit even if the pose carries a scale)."""
        d = vec3((u - cx) / fx, (v - cy) / fy, 1.0)
        w = vec3(0.0)
        for a in ti.static(range(3)):
            w[a] = pose[a, 0] * d[0] + pose[a, 1] * d[1] + pose[a, 2] * d[2]
        directions[k] = w / ti.sqrt(w.dot(w))
        origins[k] = vec3(pose[0, 3], pose[1, 3], pose[2, 3])

    @ti.kernel
    def grid(pose: arr(dt, ndim=2),  # [3, 4] T_world_camera rows 0..2: rotation | camera centre
             fx: dt, fy: dt, cx: dt, cy: dt, width: ti.i32, height: ti.i32,
             origins: arr(vec3, ndim=1),  # [H W] out, world
             directions: arr(vec3, ndim=1)):  # [H W] out, world, unit length
        for k in range(width * height):
            u = ti.cast(k % width, dt) + 0.5  # pixel centres (REFERENCE 1.2)
            v = ti.cast(k // width, dt) + 0.5
            write_ray(k, u, v, pose, fx, fy, cx, cy, origins, directions)

    @ti.kernel
    def points(pose: arr(dt, ndim=2),  # [3, 4] as in `grid`
               pixels: arr(vec2, ndim=1),  # [R] image points (u, v) in pixels, +0.5 already included
               fx: dt, fy: dt, cx: dt, cy: dt,
               origins: arr(vec3, ndim=1),  # [R] out
               directions: arr(vec3, ndim=1)):  # [R] out
        for k in range(pixels.shape[0]):
            write_ray(k, pixels[k][0], pixels[k][1], pose, fx, fy, cx, cy, origins, directions)

    return types.SimpleNamespace(grid=fast(grid), points=fast(points))
