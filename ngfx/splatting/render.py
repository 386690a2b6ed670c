"""Render a Gaussian model from one camera: project (or slice + project) -> SH colour -> tiles -> rasterize.

One pipeline for static (`Gaussians3D`) and dynamic (`Gaussians4D`) models, differentiable end to end in the
model's raw parameters. Camera convention: `ngfx.scenes.camera` (OpenCV world-to-camera, pixel centres at
+0.5); `camera.T_camera_world` maps the model's frame into the camera.

`ops="kernels"` runs the Taichi kernels, `ops="reference"` the pure-torch twins of the same signatures (the
tests compare the two end to end).
"""

import dataclasses
import functools
import importlib

import torch

from ngfx.kernels.splat.fused.reference import add_stats
from ngfx.scenes.camera import Camera

__all__ = ["SplatRender", "render_gaussians", "camera_tensors"]

_OPS = ("fused", "project", "project4d", "sh", "tiles", "rasterize")


@dataclasses.dataclass(frozen=True)
class SplatRender:
    """One rendered view of a Gaussian model.

    rgb [H,W,3] premultiplied (background added only where `background` was given); alpha [H,W];
    depth [H,W] expected camera z of the blend (0 where alpha is 0); median_depth [H,W];
    means2d [N,2] pixel positions: may be a view into the rasterizer's packed rows, so read its gradient
    (the densification signal) with `strategy.retain_grad_means2d` / `strategy.read_grad_means2d`;
    radii [N,2] int32 (0 = culled); n_intersections: (Gaussian, tile) pairs this frame.
    """

    rgb: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor
    median_depth: torch.Tensor
    means2d: torch.Tensor
    radii: torch.Tensor
    n_intersections: int


@functools.cache
def _ops(kind: str) -> dict:
    """The public functions of each op, from the Taichi `op` modules or the torch `reference` modules."""
    assert kind in ("kernels", "reference"), kind
    module = "op" if kind == "kernels" else "reference"
    return {name: importlib.import_module(f"ngfx.kernels.splat.{name}.{module}") for name in _OPS}


def camera_tensors(camera: Camera, device, dtype=torch.float32):
    """(T_camera_world [4,4] float64 on the CPU (the projection reads it on the host, so a device copy would
    only cost a sync), camera centre in the model frame [3] on `device`)."""
    T = torch.as_tensor(camera.T_camera_world, dtype=torch.float64)
    centre = torch.linalg.solve(T[:3, :3], -T[:3, 3])  # not R^T: a scene node may scale
    return T, centre.to(device=device, dtype=dtype)


def render_gaussians(model, camera: Camera, *, time: float | None = None, background=None,
                     sh_degree: int | None = None, min_temporal_weight: float = 0.05,
                     ops: str = "kernels", stats: torch.Tensor | None = None,
                     stats_scale: float = 1.0) -> SplatRender:
    """Draw `model` (Gaussians3D or Gaussians4D) from `camera` at `time` (4D only; default the camera's).

    sh_degree: use at most this many SH bands (training enables them progressively); default the model's.
    min_temporal_weight: 4D temporal culling threshold on p(t) (0.05 as Yang; exp(-16) as Duan).
    stats: densification statistics [4, N] (`strategy.DensifyState.values`) that the backward of this
    render adds to in place, its means2d gradient times stats_scale (`strategy`, step 1).
    """
    o = _ops(ops)
    dtype, device = model.opacity_logits.dtype, model.opacity_logits.device
    is_4d = hasattr(model, "means4")
    T_cw = torch.as_tensor(camera.T_camera_world, dtype=torch.float64)  # host side: the kernels read it there
    intrinsics = (camera.fx, camera.fy, camera.cx, camera.cy)
    W, H = camera.width, camera.height
    degree = model.sh_degree if sh_degree is None else min(int(sh_degree), model.sh_degree)
    antialiased = model.render_mode == "antialiased"
    bg = None if background is None else torch.as_tensor(background, dtype=dtype, device=device)
    t = float(time if time is not None else (camera.time if camera.time is not None else 0.0))
    cam_kw = dict(near=camera.near, far=camera.far, antialiased=antialiased)
    if is_4d and model.sh_degree_t > 0:  # temporal SH bands: separate ops (slice + project fused, then SH)
        proj4 = o["project4d"].project_gaussians_4d(
            model.means4, model.log_scales, model.rotations, model.opacities, t, T_cw, intrinsics, W, H,
            rotation=model.rotation, min_temporal_weight=min_temporal_weight, **cam_kw)
        proj = proj4.projection
        centre = camera_tensors(camera, device, dtype)[1]  # only this path needs it as a device tensor
        colors = o["sh"].eval_sh_4d(proj4.means3d, model.sh_coeffs, centre, degree, model.times - t,
                                    model.duration, model.sh_degree_t, visible=proj4.visible)
        if stats is not None and proj.means2d.requires_grad:
            radii = proj.radii
            proj.means2d.register_hook(lambda g: add_stats(stats, g, radii, W, H, stats_scale))
        tiles = o["tiles"].map_to_tiles(proj.means2d, proj.radii, proj.depths, W, H)
        image = o["rasterize"].rasterize_gaussians(proj.means2d, proj.conics, proj.opacities, colors,
                                                   proj.depths, tiles.tile_ranges, tiles.point_ids, W, H,
                                                   background=bg)
        means2d, radii = proj.means2d, proj.radii
    else:  # one fused kernel writes the rasterizer's packed rows (slice +) project + SH, no concatenation
        sh = (model.opacity_logits, model.sh_dc, model.sh_rest)
        cam_kw.update(stats=stats, stats_scale=stats_scale)
        if is_4d:
            pre = o["fused"].preprocess_gaussians_4d(
                model.means4, model.log_scales, model.rotations, *sh, t, T_cw, intrinsics, W, H,
                rotation=model.rotation, degree=degree, min_temporal_weight=min_temporal_weight, **cam_kw)
        else:
            pre = o["fused"].preprocess_gaussians(model.means, model.log_scales, model.quats, *sh, T_cw,
                                                  intrinsics, W, H, degree=degree, **cam_kw)
        tiles = o["tiles"].map_to_tiles(pre.means2d, pre.radii, pre.depths, W, H, rects=pre.rects)
        image = o["rasterize"].rasterize_packed(pre.rows, tiles.tile_ranges, tiles.point_ids, W, H,
                                                background=bg)
        means2d, radii = pre.means2d, pre.radii
    return SplatRender(rgb=image.features, alpha=image.alpha, depth=image.depth,
                       median_depth=image.median_depth,
                       means2d=means2d, radii=radii, n_intersections=int(tiles.n_intersections))
