"""Result type shared by the sphere-tracing kernel and its torch reference."""

import dataclasses

import torch

__all__ = ["TraceOutput"]


@dataclasses.dataclass(frozen=True)
class TraceOutput:
    """Per ray, in the tracer's compute dtype (float32; float64 for float64 fields):

    t:       [R] the hit's ray parameter (x = origin + t direction; world distance for unit directions),
             +inf where the ray does not hit.
    hit:     [R] bool, t finite.
    normals: [R, 3] unit outward normal at the hit (the normalised central-difference gradient of the SDF),
             zeros for misses and where the difference vanishes.
    steps:   [R] int32 field evaluations of the march (0 for a ray that misses the box or the [near, far]
             range; the normal's six evaluations not counted).
    """

    t: torch.Tensor
    hit: torch.Tensor
    normals: torch.Tensor
    steps: torch.Tensor
