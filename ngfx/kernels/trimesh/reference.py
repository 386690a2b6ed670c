"""Pure-torch reference triangle rasterizer: same signature and outputs as `ngfx.kernels.trimesh.rasterize`.

Brute force over every (pixel, triangle) pair in blocks, so it is only for tests and tiny images.
Method (shared with the kernel): in the camera frame, the ray through pixel centre (i + 0.5, j + 0.5) is
d = ((i + 0.5 - cx) / fx, (j + 0.5 - cy) / fy, 1). With n0 = v1 x v2, n1 = v2 x v0, n2 = v0 x v1 and
det = v0 . n0, the weights w_k = d . n_k are proportional to the perspective-correct barycentrics,
S = w0 + w1 + w2 = d . N with N = (v1 - v0) x (v2 - v0), bary = w / S and the hit depth is z = det / S.
For float32 accuracy on small, distant triangles everything is built from the edges e1 = v1 - v0,
e2 = v2 - v0: N = e1 x e2, n1 = e2 x v0, n2 = v0 x e1, det = v0 . N, and w0 = S - w1 - w2. A pixel is
covered when all w_k share S's sign; the hit must satisfy near <= z <= far, which clips triangles that cross
the near plane exactly (no wrap-around). Front faces (counter-clockwise seen from the camera) have det < 0.
The closest hit wins by (float32(z), face id), the same total order the kernel's 64-bit atomics use.
"""

import torch

from ngfx.kernels.trimesh.outputs import RasterOutput

__all__ = ["rasterize", "triangle_planes"]


def triangle_planes(verts_camera: torch.Tensor, faces: torch.Tensor):
    """Per-triangle N, n1, n2 [F, 3] and det [F] (module docstring)."""
    v0, v1, v2 = (verts_camera[faces[:, k].long()] for k in range(3))
    e1, e2 = v1 - v0, v2 - v0
    normal = torch.cross(e1, e2, dim=-1)
    return normal, torch.cross(e2, v0, dim=-1), torch.cross(v0, e1, dim=-1), (v0 * normal).sum(-1)


def _dot_ray(dx, dy, n):
    """d . n for rays d = (dx, dy, 1), evaluated in the kernel's order: [P, F]."""
    return dx[:, None] * n[None, :, 0] + dy[:, None] * n[None, :, 1] + n[None, :, 2]


def rasterize(verts_camera, faces, intrinsics, width: int, height: int, *, near: float = 0.01,
              far: float = 1.0e4, cull_backfaces: bool = False, block: int = 256) -> RasterOutput:
    """Closest-hit rasterization of camera-frame triangles (OpenCV frame, pixel centres at +0.5)."""
    dtype, dev = verts_camera.dtype, verts_camera.device
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    jj, ii = torch.meshgrid(torch.arange(height, device=dev), torch.arange(width, device=dev), indexing="ij")
    dx = ((ii.reshape(-1).to(dtype) + 0.5) - cx) / fx
    dy = ((jj.reshape(-1).to(dtype) + 0.5) - cy) / fy
    normal, n1, n2, det = triangle_planes(verts_camera, faces)
    normal_ok = normal.square().sum(-1) > 0
    face_ok = normal_ok & (det != 0) & ((det < 0) if cull_backfaces else True)
    best_z = torch.full((dx.numel(),), float("inf"), dtype=torch.float32, device=dev)
    best_f = torch.full((dx.numel(),), -1, dtype=torch.int64, device=dev)
    for f0 in range(0, faces.shape[0], block):
        sl = slice(f0, f0 + block)
        s, w1, w2 = _dot_ray(dx, dy, normal[sl]), _dot_ray(dx, dy, n1[sl]), _dot_ray(dx, dy, n2[sl])
        w0 = s - w1 - w2
        pos = (w0 >= 0) & (w1 >= 0) & (w2 >= 0) & (s > 0)
        neg = (w0 <= 0) & (w1 <= 0) & (w2 <= 0) & (s < 0)
        z = det[sl][None, :] / s
        hit = (pos | neg) & (z >= near) & (z <= far) & face_ok[sl][None, :]
        z32 = torch.where(hit, z.to(torch.float32), torch.full_like(z, float("inf"), dtype=torch.float32))
        zmin, arg = z32.min(dim=1)  # ties: min() returns the first index, i.e. the smallest face id
        better = zmin < best_z
        best_z = torch.where(better, zmin, best_z)
        best_f = torch.where(better, arg + f0, best_f)
    return _resolve(best_f, dx, dy, normal, n1, n2, det, height, width)


def _resolve(best_f, dx, dy, normal, n1, n2, det, height, width) -> RasterOutput:
    """Barycentrics and depth of the winning face per pixel, recomputed in full precision."""
    hit = best_f >= 0
    f = best_f.clamp(min=0)
    s, w1, w2 = (dx * n[f, 0] + dy * n[f, 1] + n[f, 2] for n in (normal, n1, n2))
    w = torch.stack([s - w1 - w2, w1, w2], dim=-1)
    bary = torch.where(hit[:, None], w / s[:, None], torch.zeros_like(w))
    depth = torch.where(hit, det[f] / s, torch.full_like(s, float("inf")))
    return RasterOutput(face_ids=best_f.to(torch.int32).reshape(height, width),
                        bary=bary.reshape(height, width, 3), depth=depth.reshape(height, width))
