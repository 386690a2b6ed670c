"""Small Gaussian models generated in code, for tests, examples and smoke runs (no data files needed).

`shell_gaussians`: a coloured sphere shell of flat-ish splats around the origin (static).
`orbiting_gaussians`: a 4D model whose splats sweep around the y axis over time [0, duration] as a ring of
short-lived Gaussians, each visible around its own time mean (so frames at different times differ).
"""

import math

import torch

__all__ = ["shell_gaussians", "orbiting_gaussians"]

C0 = 0.28209479177387814


def _rgb_to_dc(rgb: torch.Tensor) -> torch.Tensor:
    return ((rgb - 0.5) / C0)[:, None, :]


def _fibonacci_sphere(n: int) -> torch.Tensor:
    i = torch.arange(n, dtype=torch.float64) + 0.5
    phi = torch.acos(1 - 2 * i / n)
    theta = math.pi * (1 + 5**0.5) * i
    return torch.stack([torch.cos(theta) * torch.sin(phi), torch.cos(phi), torch.sin(theta) * torch.sin(phi)], -1)


def shell_gaussians(n: int = 400, radius: float = 0.5, *, sh_degree: int = 1, seed: int = 0,
                    dtype=torch.float32, device="cpu"):
    """Gaussians3D on a sphere shell, coloured by direction (+ small random view-dependent SH)."""
    from ngfx.splatting.model import Gaussians3D

    g = torch.Generator().manual_seed(seed)
    dirs = _fibonacci_sphere(n)
    means = radius * dirs
    spacing = radius * math.sqrt(4 * math.pi / n)
    log_scales = torch.log(torch.tensor([0.6, 0.6, 0.6]) * spacing).expand(n, 3).clone().double()
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=g, dtype=torch.float64), dim=-1)
    rgb = 0.5 + 0.45 * dirs
    k = (sh_degree + 1) ** 2
    sh_rest = 0.05 * torch.randn(n, k - 1, 3, generator=g, dtype=torch.float64)
    model = Gaussians3D(means=means, log_scales=log_scales, quats=quats,
                        opacity_logits=torch.full((n,), 2.0, dtype=torch.float64), sh_dc=_rgb_to_dc(rgb),
                        sh_rest=sh_rest)
    return _cast(model, dtype, device)


def orbiting_gaussians(n: int = 300, radius: float = 0.5, *, duration: float = 2.0, rotation: str = "dualquat",
                       seed: int = 0, dtype=torch.float32, device="cpu"):
    """Gaussians4D: splats on a ring in the xz-plane at angle 2 pi t / duration, each alive near its time."""
    from ngfx.splatting.model4d import Gaussians4D

    g = torch.Generator().manual_seed(seed)
    t = torch.rand(n, generator=g, dtype=torch.float64) * duration
    angle = 2 * math.pi * t / duration
    height = 0.3 * radius * (torch.rand(n, generator=g, dtype=torch.float64) - 0.5)
    means4 = torch.stack([radius * torch.cos(angle), height, radius * torch.sin(angle), t], -1)
    log_scales = torch.log(torch.tensor([0.08 * radius, 0.08 * radius, 0.08 * radius, 0.08 * duration],
                                        dtype=torch.float64)).expand(n, 4).clone()
    rotations = torch.zeros(n, 8, dtype=torch.float64)
    rotations[:, 0] = 1.0
    if rotation == "dualquat":
        rotations[:, 4] = 1.0  # q_l = q_r = identity
    hue = angle[:, None] + torch.tensor([0.0, 2.1, 4.2], dtype=torch.float64)
    rgb = 0.5 + 0.4 * torch.cos(hue)
    model = Gaussians4D(means4=means4, log_scales=log_scales, rotations=rotations, rotation=rotation,
                        opacity_logits=torch.full((n,), 3.0, dtype=torch.float64), sh_dc=_rgb_to_dc(rgb),
                        sh_rest=torch.zeros(n, 0, 3, dtype=torch.float64), time_range=(0.0, duration))
    return _cast(model, dtype, device)


def _cast(model, dtype, device):
    import dataclasses

    return dataclasses.replace(model, **{k: v.to(device=device, dtype=dtype).contiguous()
                                         for k, v in model.parameter_dict().items()})
