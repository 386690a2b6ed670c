"""Taichi kernels of the triangle rasterizer (see reference.py for the method and conventions).

Three passes, all parallel:
1. `setup`: per triangle, the plane terms (N, n1, n2, det) and the pixel box of its near-clipped
   projection, cut into chunks of CHUNK pixels so one large triangle spreads over many threads.
2. `raster`: per pixel of each chunk, test coverage and keep the closest hit with one 64-bit atomic min on
   key = (float32 bits of z) << 32 | face id: positive floats order like their bit patterns, so the
   smallest key is the nearest hit, ties going to the smaller face id (deterministic).
3. `resolve`: per pixel, decode the face id and recompute barycentrics and depth at full precision.
"""

import functools

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast

__all__ = ["CHUNK", "EMPTY_KEY", "make_raster_kernels"]

CHUNK = 16  # pixels per work item: one thread each; a triangle's box is cut into ceil(area / CHUNK) items
EMPTY_KEY = (1 << 63) - 1


@functools.cache
def make_raster_kernels(dtype_name: str, generation: int):
    """Kernels for float32 or float64 ('f32' / 'f64'); `generation` re-keys the cache after a re-init."""
    del generation
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    vec3 = ti.types.vector(3, dt)
    vec10 = ti.types.vector(10, dt)
    ivec4 = ti.types.vector(4, ti.i32)

    @ti.func
    def project_into(p, fx: dt, fy: dt, cx: dt, cy: dt, box):
        """Grow box (xmin, ymin, xmax, ymax) by the projection of camera-frame point p (p.z > 0)."""
        x = fx * p.x / p.z + cx
        y = fy * p.y / p.z + cy
        return ti.Vector([ti.min(box[0], x), ti.min(box[1], y), ti.max(box[2], x), ti.max(box[3], y)])

    @ti.func
    def clipped_box(v0, v1, v2, fx: dt, fy: dt, cx: dt, cy: dt, near: dt):
        """Image box of the triangle clipped to z >= near (Sutherland-Hodgman against one plane)."""
        big = ti.cast(1e30, dt)
        box = ti.Vector([big, big, -big, -big])
        verts = ti.Matrix.rows([v0, v1, v2])
        for e in ti.static(range(3)):
            a = ti.Vector([verts[e, 0], verts[e, 1], verts[e, 2]])
            b = ti.Vector([verts[(e + 1) % 3, 0], verts[(e + 1) % 3, 1], verts[(e + 1) % 3, 2]])
            if a.z >= near:
                box = project_into(a, fx, fy, cx, cy, box)
            if (a.z >= near) != (b.z >= near):
                t = (near - a.z) / (b.z - a.z)
                p = a + t * (b - a)
                p.z = near  # exact, so the projection below never divides by a rounding residue
                box = project_into(p, fx, fy, cx, cy, box)
        return box

    @ti.kernel
    def setup(verts: ti.types.ndarray(vec3, ndim=1),  # [V] camera-frame positions (OpenCV)
              faces: ti.types.ndarray(ti.math.ivec3, ndim=1),  # [F] vertex ids
              fx: dt, fy: dt, cx: dt, cy: dt, width: ti.i32, height: ti.i32, near: dt, far: dt, cull: ti.i32,
              planes: ti.types.ndarray(vec10, ndim=1),  # [F] out: N, n1, n2, det (reference.py)
              boxes: ti.types.ndarray(ivec4, ndim=1),  # [F] out: x0, y0, box width, box height
              chunks: ti.types.ndarray(ti.i32, ndim=1)):  # [F] out: work items of this triangle
        for f in range(faces.shape[0]):
            v0, v1, v2 = verts[faces[f][0]], verts[faces[f][1]], verts[faces[f][2]]
            e1, e2 = v1 - v0, v2 - v0  # edges first: accurate for small, distant triangles in float32
            nrm, n1, n2 = e1.cross(e2), e2.cross(v0), v0.cross(e1)
            det = v0.dot(nrm)
            planes[f] = ti.Vector([nrm.x, nrm.y, nrm.z, n1.x, n1.y, n1.z, n2.x, n2.y, n2.z, det])
            culled = nrm.norm_sqr() == 0 or det == 0 or (cull != 0 and det >= 0)
            culled = culled or ti.max(v0.z, v1.z, v2.z) < near or ti.min(v0.z, v1.z, v2.z) > far
            box = clipped_box(v0, v1, v2, fx, fy, cx, cy, near)
            eps = ti.cast(1e-3, dt)  # a pixel centre on the box edge must not be lost to rounding
            lim_x, lim_y = ti.cast(width + 1, dt), ti.cast(height + 1, dt)
            x0 = ti.max(0, ti.cast(ti.ceil(ti.max(box[0] - 0.5 - eps, -1.0)), ti.i32))
            y0 = ti.max(0, ti.cast(ti.ceil(ti.max(box[1] - 0.5 - eps, -1.0)), ti.i32))
            x1 = ti.min(width - 1, ti.cast(ti.floor(ti.min(box[2] - 0.5 + eps, lim_x)), ti.i32))
            y1 = ti.min(height - 1, ti.cast(ti.floor(ti.min(box[3] - 0.5 + eps, lim_y)), ti.i32))
            bw, bh = x1 - x0 + 1, y1 - y0 + 1
            n = 0
            if not culled and bw > 0 and bh > 0:
                n = (bw * bh + CHUNK - 1) // CHUNK
            boxes[f] = ti.Vector([x0, y0, ti.max(bw, 0), ti.max(bh, 0)])
            chunks[f] = n

    @ti.kernel
    def raster(planes: ti.types.ndarray(vec10, ndim=1), boxes: ti.types.ndarray(ivec4, ndim=1),
               chunk_face: ti.types.ndarray(ti.i32, ndim=1),  # [C] triangle of each work item
               face_first_chunk: ti.types.ndarray(ti.i32, ndim=1),  # [F] exclusive prefix sum of chunks
               fx: dt, fy: dt, cx: dt, cy: dt, near: dt, far: dt,
               keys: ti.types.ndarray(ti.i64, ndim=2)):  # [H, W] in/out: closest (depth bits, face id)
        # One thread per pixel of a chunk, no inner loop: atomics inside a serial inner loop drop
        # iterations on Mesa's lavapipe (seen with Taichi 1.7.4), and flat threads balance better on GPUs.
        for t in range(chunk_face.shape[0] * CHUNK):
            c = t // CHUNK
            f = chunk_face[c]
            box = boxes[f]
            p = (c - face_first_chunk[f]) * CHUNK + t % CHUNK
            if p < box[2] * box[3]:
                pl = planes[f]
                i, j = box[0] + p % box[2], box[1] + p // box[2]
                dx = (ti.cast(i, dt) + 0.5 - cx) / fx
                dy = (ti.cast(j, dt) + 0.5 - cy) / fy
                s = dx * pl[0] + dy * pl[1] + pl[2]
                w1 = dx * pl[3] + dy * pl[4] + pl[5]
                w2 = dx * pl[6] + dy * pl[7] + pl[8]
                w0 = s - w1 - w2
                inside = (w0 >= 0 and w1 >= 0 and w2 >= 0 and s > 0) or (w0 <= 0 and w1 <= 0 and w2 <= 0 and s < 0)
                if inside:
                    z = pl[9] / s
                    if z >= near and z <= far:
                        key = (ti.cast(ti.bit_cast(ti.cast(z, ti.f32), ti.i32), ti.i64) << 32) | ti.cast(f, ti.i64)
                        ti.atomic_min(keys[j, i], key)

    @ti.kernel
    def resolve(keys: ti.types.ndarray(ti.i64, ndim=2), planes: ti.types.ndarray(vec10, ndim=1),
                fx: dt, fy: dt, cx: dt, cy: dt, empty: ti.i64,
                face_ids: ti.types.ndarray(ti.i32, ndim=2),  # [H, W] out, -1 = empty
                bary: ti.types.ndarray(vec3, ndim=2),  # [H, W] out
                depth: ti.types.ndarray(dt, ndim=2)):  # [H, W] out, +inf = empty
        for j, i in ti.ndrange(keys.shape[0], keys.shape[1]):
            key = keys[j, i]
            if key == empty:
                face_ids[j, i] = -1
                bary[j, i] = ti.Vector([0.0, 0.0, 0.0], dt)
                depth[j, i] = ti.math.inf
            else:
                f = ti.cast(key & ti.i64(0xFFFFFFFF), ti.i32)
                pl = planes[f]
                dx = (ti.cast(i, dt) + 0.5 - cx) / fx
                dy = (ti.cast(j, dt) + 0.5 - cy) / fy
                s = dx * pl[0] + dy * pl[1] + pl[2]
                w1 = dx * pl[3] + dy * pl[4] + pl[5]
                w2 = dx * pl[6] + dy * pl[7] + pl[8]
                w = ti.Vector([s - w1 - w2, w1, w2], dt)
                face_ids[j, i] = f
                bary[j, i] = w / s
                depth[j, i] = pl[9] / s

    return fast(setup), fast(raster), fast(resolve)
