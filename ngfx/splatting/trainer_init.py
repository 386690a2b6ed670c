"""Scene geometry from a capture's cameras and the initial Gaussians of a training run (REFERENCE 2.7, 3.6).

- extent: INRIA's 1.1 x the largest distance of a camera centre from their mean (world units); it scales the
  means' learning rate and the densification size thresholds.
- scene box (random init): the capture's scene_box when it declares one; else a cube around the point
  nearest to every camera's optical axis (least squares), of half-side half the median camera distance
  to that point, which suits inward-facing captures (Blender, D-NeRF); forward-facing ones ship points.
- start points: the capture's point cloud; else, when the training frames have foreground masks, half in
  their visual hull (visual_hull.py) and half uniform in a box 3x the scene box for the background the masks
  leave out (Panoptic, gs4d, 150 CPU steps at 1/4 size: held-out PSNR 9.8 dB hull-only, 15.6 dB mixed);
  else uniform in the scene box. Points without colours (random, hull, a cloud without colours) start grey
  (0.5, as INRIA's random init, whose SH DC of U(0, 1/255) is grey to 0.1%): random colours persist in short
  runs, because Adam moves a colour by at most about lr_sh_dc x C0 = 0.0007 per step, so 500 steps cannot
  undo a random start of up to 0.5 off (the coloured blotches on the CPU demo's floor).
- initial Gaussians: isotropic, scale = the mean distance to the 3 nearest other points (INRIA), estimated
  against a subsample of at most 4096 points and corrected by (sample / total)^(1/3) for larger clouds;
  identity rotation, opacity cfg.init_opacity, zero higher SH bands. 4D (Duan, Yang): times uniform over the
  capture's time span, temporal scale sqrt(duration / 5) (Yang's sigma_t).
"""

import dataclasses
import math

import numpy as np
import torch

from ngfx.splatting.model import Gaussians3D
from ngfx.splatting.model4d import Gaussians4D

__all__ = ["camera_extent", "init_gaussians", "scene_box", "time_span"]

_C0 = 0.28209479177387814  # Y_0^0
_RANDOM_INIT_GREY = 0.5  # the colour of start points that have none (module docstring)


def _centres(cameras) -> np.ndarray:
    return np.stack([np.asarray(c.position, dtype=np.float64) for c in cameras])


def camera_extent(cameras) -> float:
    """INRIA's scene extent (module docstring); 1 when all cameras sit at one point."""
    centres = _centres(cameras)
    radius = float(np.linalg.norm(centres - centres.mean(0), axis=1).max())
    return 1.1 * radius if radius > 1e-9 else 1.0


def scene_box(capture, cameras) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) world bounds for a random init (module docstring)."""
    if capture.scene_box is not None:
        lo, hi = capture.scene_box
        return np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    centres = _centres(cameras)
    axes = np.stack([np.asarray(c.T_world_camera, dtype=np.float64)[:3, 2] for c in cameras])  # OpenCV +z
    # sum_i (I - d_i d_i^T) (p - c_i) = 0: the point closest to every optical axis
    A = sum(np.eye(3) - np.outer(d, d) for d in axes)
    b = sum((np.eye(3) - np.outer(d, d)) @ c for d, c in zip(axes, centres))
    centre = np.linalg.solve(A, b) if np.linalg.cond(A) < 1e6 else centres.mean(0)
    half = 0.5 * float(np.median(np.linalg.norm(centres - centre, axis=1)))
    half = half if half > 1e-9 else 1.0
    return centre - half, centre + half


def time_span(cameras) -> tuple[float, float]:
    """(t_start, t_end) of the cameras' times (seconds); a span of 1 when they all share one time."""
    times = [c.time for c in cameras if c.time is not None]
    if not times:
        return 0.0, 1.0
    t0, t1 = float(min(times)), float(max(times))
    return (t0, t1) if t1 > t0 else (t0, t0 + 1.0)


def _nn_scale(points: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mean distance of each point to its 3 nearest others [N] (subsampled above 4096 points, see above)."""
    n = points.shape[0]
    m = min(n, 4096)
    ref = points[torch.randperm(n, generator=generator)[:m]] if m < n else points
    k = min(3, m - 1)
    if k < 1:
        return torch.full((n,), 0.01, dtype=points.dtype)
    dists = [torch.cdist(chunk, ref).topk(k + 1, largest=False).values[:, 1:] for chunk in points.split(8192)]
    scale = torch.cat(dists).mean(-1) * (m / n) ** (1 / 3)
    return scale.clamp_min(1e-7)


def _start_points(capture, cfg, cameras, generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(xyz [N, 3] float64, rgb [N, 3] in [0, 1]) of the initial Gaussians."""
    use_points = cfg.init == "points" or (cfg.init == "auto" and capture.points is not None)
    if use_points:
        if capture.points is None or len(capture.points) == 0:
            raise ValueError("init='points' but the capture has no point cloud; use init='random'")
        xyz = torch.as_tensor(np.asarray(capture.points, dtype=np.float64))
        rgb = (torch.as_tensor(np.asarray(capture.point_colors, dtype=np.float64)) / 255.0
               if capture.point_colors is not None else torch.full_like(xyz, _RANDOM_INIT_GREY))
        if xyz.shape[0] > cfg.n_init:
            pick = torch.randperm(xyz.shape[0], generator=generator)[:cfg.n_init]
            xyz, rgb = xyz[pick], rgb[pick]
        return xyz, rgb
    box = scene_box(capture, cameras)
    if cfg.init in ("auto", "hull"):  # foreground masks (Panoptic): start inside their visual hull
        from ngfx.splatting.visual_hull import visual_hull_points

        n_hull = cfg.n_init - cfg.n_init // 2  # the other half: background, uniform in a 3x larger box
        xyz = visual_hull_points(capture, capture.split("train"), box, n_hull, generator)
        if xyz is not None:
            lo, hi = (torch.as_tensor(v) for v in box)
            centre, half = 0.5 * (lo + hi), 1.5 * (hi - lo)
            back = centre - half + 2 * half * torch.rand(cfg.n_init // 2, 3, generator=generator, dtype=torch.float64)
            xyz = torch.cat([xyz, back])
            return xyz, torch.full_like(xyz, _RANDOM_INIT_GREY)
        if cfg.init == "hull":
            raise ValueError("init='hull' needs foreground masks that carve a non-empty hull; use init='random'")
    lo, hi = (torch.as_tensor(v) for v in box)
    xyz = lo + (hi - lo) * torch.rand(cfg.n_init, 3, generator=generator, dtype=torch.float64)
    return xyz, torch.full_like(xyz, _RANDOM_INIT_GREY)


def init_gaussians(capture, cfg, cameras, *, device) -> Gaussians3D | Gaussians4D:
    """The untrained model of cfg.method (module docstring), float32 leaves with requires_grad on `device`;
    cameras: the training cameras (their times give the 4D span). Deterministic in cfg.seed."""
    generator = torch.Generator().manual_seed(cfg.seed)
    xyz, rgb = _start_points(capture, cfg, cameras, generator)
    n, f64 = xyz.shape[0], torch.float64
    log_scale = torch.log(_nn_scale(xyz, generator))[:, None].expand(n, 3)
    common = {"opacity_logits": torch.full((n,), math.log(cfg.init_opacity / (1 - cfg.init_opacity)), dtype=f64),
              "sh_dc": ((rgb - 0.5) / _C0)[:, None, :],
              "sh_rest": torch.zeros(n, (cfg.sh_degree + 1) ** 2 - 1, 3, dtype=f64)}
    if cfg.method == "gs4d" and cfg.sh_degree_t > 0:  # Yang's temporal blocks, time-major, all zero
        common["sh_rest"] = torch.zeros(n, (cfg.sh_degree_t + 1) * (cfg.sh_degree + 1) ** 2 - 1, 3, dtype=f64)
    if cfg.method == "gs3d":
        quats = torch.zeros(n, 4, dtype=f64)
        quats[:, 0] = 1.0
        model = Gaussians3D(means=xyz, log_scales=log_scale, quats=quats, **common)
    else:
        t0, t1 = time_span(cameras)
        times = t0 + (t1 - t0) * torch.rand(n, 1, generator=generator, dtype=f64)
        log_t = torch.full((n, 1), 0.5 * math.log((t1 - t0) / 5), dtype=f64)
        rotations = torch.zeros(n, 8, dtype=f64)
        rotations[:, 0] = 1.0
        if cfg.rotation_4d == "dualquat":
            rotations[:, 4] = 1.0  # q_l = q_r = identity
        model = Gaussians4D(means4=torch.cat([xyz, times], 1), log_scales=torch.cat([log_scale, log_t], 1),
                            rotations=rotations, rotation=cfg.rotation_4d, time_range=(t0, t1),
                            sh_degree_t=cfg.sh_degree_t, **common)
    params = {k: v.to(device=device, dtype=torch.float32).contiguous().requires_grad_(True)
              for k, v in model.parameter_dict().items()}
    return dataclasses.replace(model, **params)
