"""Public triangle rasterizer: `rasterize` (Taichi), `interpolate` and `sample_texture` (torch, differentiable).

`rasterize` is not differentiable (visibility and geometry gradients come later); `interpolate` is
differentiable in the attributes and the barycentrics, `sample_texture` in the texture and the UVs.
"""

import torch

from ngfx.kernels import runtime
from ngfx.kernels.trimesh.kernels import EMPTY_KEY, make_raster_kernels
from ngfx.kernels.trimesh.outputs import RasterOutput

__all__ = ["rasterize", "interpolate", "interpolate_corners", "sample_texture", "RasterOutput"]


def rasterize(verts_camera: torch.Tensor, faces: torch.Tensor, intrinsics, width: int, height: int, *,
              near: float = 0.01, far: float = 1.0e4, cull_backfaces: bool = False) -> RasterOutput:
    """Closest-hit rasterization of camera-frame triangles; see `reference.rasterize` for the method.

    verts_camera: [V, 3] float32/float64 in the OpenCV camera frame; faces: [F, 3] int32 vertex ids;
    intrinsics: (fx, fy, cx, cy) in pixels, pixel centres at +0.5. Counter-clockwise faces seen from the
    camera are front faces; `cull_backfaces` drops the others. Tensors must live on `runtime.device()`.
    """
    runtime.ensure_init()
    assert verts_camera.ndim == 2 and verts_camera.shape[1] == 3, verts_camera.shape
    assert faces.ndim == 2 and faces.shape[1] == 3, faces.shape
    assert verts_camera.dtype in (torch.float32, torch.float64), verts_camera.dtype
    assert width > 0 and height > 0, (width, height)
    dtype, dev = verts_camera.dtype, verts_camera.device
    setup, raster, resolve = make_raster_kernels("f32" if dtype == torch.float32 else "f64", runtime.generation())
    verts = verts_camera.contiguous()
    faces = faces.to(device=dev, dtype=torch.int32).contiguous()
    n_faces = faces.shape[0]
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    planes = torch.empty((n_faces, 10), dtype=dtype, device=dev)
    boxes = torch.empty((n_faces, 4), dtype=torch.int32, device=dev)
    chunks = torch.empty((n_faces,), dtype=torch.int32, device=dev)
    keys = torch.full((height, width), EMPTY_KEY, dtype=torch.int64, device=dev)
    if n_faces:
        setup(verts, faces, fx, fy, cx, cy, width, height, near, far, int(cull_backfaces), planes, boxes, chunks)
        ends = torch.cumsum(chunks, 0, dtype=torch.int64)
        total = int(ends[-1])
        if total:
            chunk_face = torch.repeat_interleave(torch.arange(n_faces, dtype=torch.int32, device=dev),
                                                 chunks, output_size=total)
            first_chunk = (ends - chunks).to(torch.int32)
            raster(planes, boxes, chunk_face, first_chunk, fx, fy, cx, cy, near, far, keys)
    face_ids = torch.empty((height, width), dtype=torch.int32, device=dev)
    bary = torch.empty((height, width, 3), dtype=dtype, device=dev)
    depth = torch.empty((height, width), dtype=dtype, device=dev)
    resolve(keys, planes, fx, fy, cx, cy, EMPTY_KEY, face_ids, bary, depth)
    return RasterOutput(face_ids=face_ids, bary=bary, depth=depth)


def interpolate(attr: torch.Tensor, face_ids: torch.Tensor, bary: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Per-pixel barycentric blend of per-vertex attributes [V, C] -> [H, W, C]; zeros where empty."""
    assert attr.ndim == 2, attr.shape
    corners = attr[faces.long()]  # [F, 3, C]
    return interpolate_corners(corners, face_ids, bary)


def interpolate_corners(corners: torch.Tensor, face_ids: torch.Tensor, bary: torch.Tensor) -> torch.Tensor:
    """Per-pixel blend of per-corner attributes [F, 3, C] (e.g. OBJ UVs) -> [H, W, C]; zeros where empty."""
    assert corners.ndim == 3 and corners.shape[1] == 3, corners.shape
    hit = face_ids >= 0
    picked = corners[face_ids.clamp(min=0).long()]  # [H, W, 3, C]
    out = (picked * bary.to(corners.dtype)[..., None]).sum(-2)
    return out * hit[..., None].to(out.dtype)


def sample_texture(texture: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup with wrap-around of texture [Ht, Wt, C] at uv [..., 2] -> [..., C].

    UVs follow OBJ/glTF: u right, v up, (0, 0) the bottom-left corner; texel (x, y) has its centre at
    u = (x + 0.5) / Wt, v = 1 - (y + 0.5) / Ht (row 0 is the top of the image).
    """
    assert texture.ndim == 3 and uv.shape[-1] == 2, (texture.shape, uv.shape)
    ht, wt = texture.shape[0], texture.shape[1]
    x = uv[..., 0] * wt - 0.5
    y = (1.0 - uv[..., 1]) * ht - 0.5
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    x0, y0 = x0.long(), y0.long()
    x1, y1 = (x0 + 1) % wt, (y0 + 1) % ht
    x0, y0 = x0 % wt, y0 % ht
    top = texture[y0, x0] * (1 - fx) + texture[y0, x1] * fx
    bottom = texture[y1, x0] * (1 - fx) + texture[y1, x1] * fx
    return top * (1 - fy) + bottom * fy
