"""Inputs of `ngfx bench splat`: the garden fixture, random 3D Gaussians, and the shared 4D baseline scene.

Each builder returns (model, cameras, description). Sizes follow issue 3; `scale` < 1 shrinks the Gaussian
count and the image (for quick CPU runs), keeping the layout.
"""

import math
import os

import numpy as np
import torch

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera

__all__ = ["garden_scene", "random_scene", "dynamic_scene", "knn_log_scales", "GARDEN"]

GARDEN = os.path.join("..", "shared", "data", "gsplat-garden", "test_garden.npz")
C0 = 0.28209479177387814


def knn_log_scales(means: torch.Tensor, k: int = 3, chunk: int = 2048) -> torch.Tensor:
    """INRIA's initial log-scale: log sqrt(mean squared distance to the k nearest neighbours), all axes."""
    out = torch.empty(means.shape[0], dtype=means.dtype, device=means.device)
    for start in range(0, means.shape[0], chunk):
        d2 = torch.cdist(means[start:start + chunk], means).square()
        d2 = d2.topk(k + 1, dim=1, largest=False).values[:, 1:]  # drop the point itself
        out[start:start + chunk] = 0.5 * torch.log(d2.mean(1).clamp_min(1e-12))
    return out[:, None].expand(-1, 3).contiguous()


def _model_3d(means, log_scales, quats, opacities, rgb_or_sh, degree):
    from ngfx.splatting.model import Gaussians3D

    sh = rgb_or_sh if rgb_or_sh.ndim == 3 else ((rgb_or_sh - 0.5) / C0)[:, None, :]
    return Gaussians3D(means=means, log_scales=log_scales, quats=quats,
                       opacity_logits=torch.logit(opacities.clamp(1e-6, 1 - 1e-6)),
                       sh_dc=sh[:, :1].contiguous(), sh_rest=sh[:, 1:].contiguous())


def garden_scene(path: str | None, device, scale: float = 1.0):
    """(a) 138,766 real garden points, scales from 3 nearest neighbours, opacity 0.5, its 3 cameras."""
    path = path or GARDEN
    if not os.path.isfile(path):
        raise InputError("garden fixture not found", file=path,
                         fix="pass --garden PATH/test_garden.npz (from ../shared/data/gsplat-garden)")
    with np.load(path) as data:
        means = torch.as_tensor(data["means3d"], dtype=torch.float32, device=device)
        rgb = torch.as_tensor(data["colors"], dtype=torch.float32, device=device) / 255.0
        viewmats, Ks = data["viewmats"], data["Ks"]
        width, height = int(data["width"]), int(data["height"])
    if scale < 1.0:
        keep = torch.randperm(means.shape[0], generator=torch.Generator().manual_seed(0))[
            : int(means.shape[0] * scale)].to(device)
        means, rgb = means[keep], rgb[keep]
    n = means.shape[0]
    quats = torch.zeros(n, 4, device=device)
    quats[:, 0] = 1.0
    model = _model_3d(means, knn_log_scales(means), quats, torch.full((n,), 0.5, device=device), rgb, 0)
    cams = [Camera(K=np.asarray(Ks[i], dtype=np.float64), width=width, height=height,
                   T_camera_world=np.asarray(viewmats[i], dtype=np.float64), near=0.01, far=1e10)
            for i in range(len(Ks))]
    return model, cams, f"garden fixture, {n:,} Gaussians, {len(cams)} cameras at {width}x{height}"


def _front_camera(width: int, height: int, focal: float) -> Camera:
    K = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=np.float64)
    return Camera(K=K, width=width, height=height, T_camera_world=np.eye(4), near=0.01, far=1e10)


def random_scene(device, n: int = 1_000_000, width: int = 1920, height: int = 1080, seed: int = 0,
                 sh_degree: int = 3):
    """(b) n random Gaussians in a 8x5x8 box centred 8 in front of a camera at the origin (focal 1100 px at
    1080p, scaled with the width), log-uniform scales 0.005-0.05, uniform opacity, random SH of `sh_degree`."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    u = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    means = (u(n, 3) - 0.5) * torch.tensor([8.0, 5.0, 8.0]) + torch.tensor([0.0, 0.0, 8.0])
    log_scales = math.log(0.005) + u(n, 3) * math.log(10.0)
    quats = torch.randn(n, 4, generator=g)
    sh = torch.zeros(n, (sh_degree + 1) ** 2, 3)
    sh[:, 0] = (u(n, 3) - 0.5) / C0
    sh[:, 1:] = 0.1 * torch.randn(n, (sh_degree + 1) ** 2 - 1, 3, generator=g)
    model = _model_3d(*(x.to(device) for x in (means, log_scales, quats, u(n), sh)), sh_degree)
    cam = _front_camera(width, height, 1100.0 * width / 1920)
    return model, [cam], f"{n:,} random Gaussians (SH {sh_degree}) at {width}x{height}"


def dynamic_scene(device, n: int = 500_000, width: int = 1352, height: int = 1014, seed: int = 0,
                  rotation: str = "dualquat"):
    """(c) the issue's shared 4D baseline: means uniform in a 4x4x4 box centred 6 in front of a camera at the
    origin (focal 1100 px, principal point at the centre), time means U[0,1], spatial scales 0.005-0.035,
    time scales 0.05-0.35, random two-quaternion rotations, uniform opacity and colour (SH 0)."""
    from ngfx.splatting.model4d import Gaussians4D

    g = torch.Generator(device="cpu").manual_seed(seed)
    u = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    means4 = torch.cat([(u(n, 3) - 0.5) * 4.0 + torch.tensor([0.0, 0.0, 6.0]), u(n, 1)], dim=1)
    scales4 = torch.cat([0.005 + 0.03 * u(n, 3), 0.05 + 0.3 * u(n, 1)], dim=1)
    rotations = torch.randn(n, 8, generator=g)
    opacities, rgb = u(n), u(n, 3)
    model = Gaussians4D(means4=means4.to(device), log_scales=scales4.log().to(device),
                        rotations=rotations.to(device), rotation=rotation,
                        opacity_logits=torch.logit(opacities.clamp(1e-6, 1 - 1e-6)).to(device),
                        sh_dc=((rgb - 0.5) / C0)[:, None, :].to(device),
                        sh_rest=torch.zeros(n, 0, 3, device=device), sh_degree_t=0,
                        time_range=(0.0, 1.0))
    cam = _front_camera(width, height, 1100.0 * width / 1352)
    return model, [cam], f"{n:,} 4D Gaussians ({rotation}) at {width}x{height}"
