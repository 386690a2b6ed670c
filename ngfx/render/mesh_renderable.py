"""Draws TriMeshes with the Taichi rasterizer: albedo (texture, vertex colours or a flat colour) times
ambient + Lambert from the scene's directional lights, or from a headlight when the scene has none.

All meshes of a frame share one z-buffer (`render_meshes`): their camera-frame triangles go through one
rasterize call, and only covered pixels are shaded, each by the mesh that owns its face. Runs in the camera
frame (OpenCV); normals are turned towards the camera, so open meshes shade on both sides.
"""

import functools

import numpy as np
import torch

from ngfx.kernels import runtime
from ngfx.kernels.trimesh import rasterize, sample_texture
from ngfx.scenes.camera import Camera
from ngfx.scenes.mesh import TriMesh
from ngfx.scenes.renderable import RenderContext, RenderOutput

__all__ = ["MeshRenderable", "render_meshes", "pixel_rays"]


def pixel_rays(camera: Camera, device) -> torch.Tensor:
    """Unit ray directions [H * W, 3] through the pixel centres (+0.5), in the camera frame, row-major.
    Cached per intrinsics and size, so a moving camera does not rebuild them every frame."""
    return _pixel_rays(camera.width, camera.height, camera.fx, camera.fy, camera.cx, camera.cy, str(device))


@functools.lru_cache(maxsize=4)
def _pixel_rays(width, height, fx, fy, cx, cy, device: str) -> torch.Tensor:
    j, i = torch.meshgrid(torch.arange(height, device=device, dtype=torch.float32),
                          torch.arange(width, device=device, dtype=torch.float32), indexing="ij")
    d = torch.stack([(i + 0.5 - cx) / fx, (j + 0.5 - cy) / fy, torch.ones_like(i)], -1)
    return (d / d.norm(dim=-1, keepdim=True)).reshape(-1, 3)


class MeshRenderable:
    """A TriMesh on the render device; implements the Renderable protocol."""

    def __init__(self, mesh: TriMesh, device: torch.device | None = None):
        self.mesh = mesh
        dev = self.device = device or runtime.device()
        as_t = lambda a: None if a is None else torch.as_tensor(a, device=dev)  # noqa: E731
        self.verts, self.faces = as_t(mesh.vertices), as_t(mesh.faces)
        self.colors, self.normals, self.uvs = as_t(mesh.vertex_colors), as_t(mesh.vertex_normals), as_t(mesh.corner_uvs)
        self.texture = as_t(mesh.material.texture) if mesh.corner_uvs is not None else None
        self.color = torch.tensor(mesh.material.color, dtype=torch.float32, device=dev)

    def bounds(self, time: float):
        return self.mesh.bounds()

    def render(self, camera: Camera, time: float, context: RenderContext) -> RenderOutput:
        """This mesh alone, seen from `camera` (whose T_camera_world maps this mesh's frame to the camera)."""
        return render_meshes([(self, camera.T_camera_world)], camera, context)

    def to_camera(self, T_camera_local: torch.Tensor) -> torch.Tensor:
        return self.verts @ T_camera_local[:3, :3].T + T_camera_local[:3, 3]

    def shade(self, face, bary, rays, verts_cam, T_camera_local, context: RenderContext) -> torch.Tensor:
        """Colours [P, 3] of P hits: local face ids, barycentrics, unit rays, this mesh's camera-frame vertices."""
        corners = self.faces[face].long()  # [P, 3] vertex ids
        normal = self._normals(corners, face, bary, verts_cam, T_camera_local)
        normal = normal * torch.where((normal * rays).sum(-1, keepdim=True) > 0, -1.0, 1.0)
        return self._albedo(corners, face, bary) * _light(normal, rays, context)

    def _normals(self, corners, face, bary, verts_cam, T_camera_local) -> torch.Tensor:
        if self.normals is not None:  # normals transform by the inverse transpose of the linear part
            n = (self.normals[corners] * bary[..., None]).sum(1) @ torch.linalg.inv(T_camera_local[:3, :3])
        else:
            v = verts_cam[corners]
            n = torch.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0], dim=-1)
        return n / n.norm(dim=-1, keepdim=True).clamp(min=1e-12)

    def _albedo(self, corners, face, bary) -> torch.Tensor:
        if self.texture is not None:
            return sample_texture(self.texture, (self.uvs[face] * bary[..., None]).sum(1))
        if self.colors is not None:
            return (self.colors[corners] * bary[..., None]).sum(1)
        return self.color.expand(len(face), 3)


def _light(normal, rays, context: RenderContext) -> torch.Tensor:
    """ambient + (1 - ambient) * sum of clamped Lambert terms, per colour channel."""
    if not context.lights:  # headlight: light travels along the viewing ray
        return context.ambient + (1.0 - context.ambient) * (-(normal * rays).sum(-1, keepdim=True)).clamp(min=0)
    total = torch.zeros_like(normal)
    for light in context.lights:
        d = torch.as_tensor(np.asarray(light.direction) / np.linalg.norm(light.direction), dtype=torch.float32,
                            device=normal.device)
        color = torch.as_tensor(light.color, dtype=torch.float32, device=normal.device)
        total = total + (-(normal @ d)).clamp(min=0)[:, None] * color
    return context.ambient + (1.0 - context.ambient) * total


def render_meshes(items, camera: Camera, context: RenderContext) -> RenderOutput:
    """One z-buffer for several meshes: items are (MeshRenderable, T_camera_local 4x4) with `camera` giving
    the intrinsics, size and clip range (its own pose is not used)."""
    dev = items[0][0].device
    Ts = [torch.as_tensor(camera_T, dtype=torch.float32, device=dev) for _, camera_T in items]
    verts = [r.to_camera(T) for (r, _), T in zip(items, Ts)]
    offsets = np.cumsum([0] + [len(r.faces) for r, _ in items])
    vert_offsets = np.cumsum([0] + [len(v) for v in verts])
    faces = torch.cat([r.faces + int(o) for (r, _), o in zip(items, vert_offsets)])
    out = rasterize(torch.cat(verts), faces, (camera.fx, camera.fy, camera.cx, camera.cy), camera.width,
                    camera.height, near=camera.near, far=camera.far)
    face_ids = out.face_ids.reshape(-1)
    hits = torch.nonzero(face_ids >= 0).squeeze(1)
    hit_faces, hit_bary = face_ids[hits].long(), out.bary.reshape(-1, 3)[hits].float()
    rays = pixel_rays(camera, dev)[hits]
    owner = torch.bucketize(hit_faces, torch.as_tensor(offsets[1:], device=dev), right=True)
    rgb = torch.zeros((camera.height * camera.width, 3), device=dev)
    for m, ((r, _), T) in enumerate(zip(items, Ts)):
        sel = torch.nonzero(owner == m).squeeze(1) if len(items) > 1 else torch.arange(len(hits), device=dev)
        if len(sel):
            rgb[hits[sel]] = r.shade(hit_faces[sel] - int(offsets[m]), hit_bary[sel], rays[sel], verts[m], T, context)
    alpha = (out.face_ids >= 0).float()
    return RenderOutput(rgb=rgb.reshape(camera.height, camera.width, 3), depth=out.depth.float(), alpha=alpha)
