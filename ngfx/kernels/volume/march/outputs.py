"""`MarchOutput`, the packed samples that `march_rays` and its reference return (nerfacc's packing)."""

import dataclasses

import torch

__all__ = ["MarchOutput"]


@dataclasses.dataclass(frozen=True)
class MarchOutput:
    """Samples of all rays, concatenated ray by ray, front to back within a ray.

    ray_offsets: int32 [R + 1], ray r owns samples ray_offsets[r] .. ray_offsets[r + 1] - 1 (the last entry
                 is S; a ray may own none): the packing `composite_along_rays` takes.
    ray_indices: int64 [S], the ray of each sample.
    t_starts / t_ends: [S] the sample's interval along its ray (world units for unit directions), the
                 origins' dtype; t_end - t_start is the step taken there.
    positions:   [S, 3] world midpoints o + d (t_start + t_end) / 2, where the field is evaluated.
    Not differentiable (marching is a discrete choice of intervals).
    """

    ray_offsets: torch.Tensor
    ray_indices: torch.Tensor
    t_starts: torch.Tensor
    t_ends: torch.Tensor
    positions: torch.Tensor

    @property
    def n_samples(self) -> int:
        """S, as a Python int."""
        return int(self.t_starts.shape[0])
