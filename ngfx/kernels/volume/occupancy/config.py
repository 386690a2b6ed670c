"""The occupancy grid's knobs and the cascade geometry they imply (instant-ngp, REFERENCE 4.4). Pure Python.

Layout (the one convention every function of `occupancy` and `march` shares):
- Cascade k in 0..C-1 is the cube centre +- half_size * 2^k (world units): cascade 0 is the given box and
  each cascade doubles the extent (instant-ngp's cascades; its unit cube is centre 0.5, half_size 0.5).
- Each cascade has res^3 cells of edge cell_size(k) = 2 half_size 2^k / res. Cell (x, y, z) of cascade k
  covers [lo_k + (x, y, z) cell_size(k), lo_k + (x + 1, y + 1, z + 1) cell_size(k)) with lo_k = centre -
  half_size 2^k; its linear index is x + res (y + res z) (x fastest; no Morton order), and its flat index
  over the whole grid is k res^3 + linear index.
- A density grid is float32 [C, res^3]; its bitfield is uint8 [C, res^3 / 8], bit j of byte b of cascade
  k holding cell 8 b + j of that cascade (least significant bit first).
- A point belongs to the finest cascade that contains it (max_a |p_a - centre_a| < half_size 2^k, else
  the last cascade), so the inner res/2 cube of cells of a cascade k >= 1 lies under cascade k-1 and is
  never read by the marcher (instant-ngp fills it by max pooling the finer bits; ngfx does not need to).
  resolution is a multiple of 4 so cascade k-1's boundary falls on cell boundaries of cascade k.
"""

import dataclasses
import math

__all__ = ["OccupancyGridConfig"]

_MAX_CELLS = (1 << 31) - 1  # flat cell indices must fit int32 in the kernels


@dataclasses.dataclass(frozen=True, kw_only=True)
class OccupancyGridConfig:
    """A multi-cascade occupancy grid (module docstring for the layout); a kernel-factory cache key.

    resolution: cells per axis per cascade (multiple of 4; instant-ngp 128). n_cascades: C in 1..8
    (instant-ngp: 1 + log2(aabb_scale)). center / half_size: cascade 0's cube, world units.
    decay: the per-update multiplier of every cell (0.95). threshold: occupied means density >
    min(mean, threshold) (0.01, calibrated for densities stored as optical thickness sigma * step_size).
    warmup_steps: training steps during which every update samples every cell (256).
    update_every: the training-step period of updates that callers follow (16; no function here reads it)."""

    resolution: int = 128
    n_cascades: int = 1
    center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    half_size: float = 1.0
    decay: float = 0.95
    threshold: float = 0.01
    warmup_steps: int = 256
    update_every: int = 16

    def __post_init__(self):
        def need(ok: bool, message: str):
            if not ok:
                raise ValueError(f"OccupancyGridConfig: {message}")

        for name in ("resolution", "n_cascades", "warmup_steps", "update_every"):
            value = getattr(self, name)
            need(isinstance(value, int) and not isinstance(value, bool), f"{name} must be an int, got {value!r}")
        need(self.resolution >= 4 and self.resolution % 4 == 0,
             f"resolution must be a positive multiple of 4, got {self.resolution}")
        need(1 <= self.n_cascades <= 8, f"n_cascades must be in 1..8, got {self.n_cascades}")
        need(self.n_cascades * self.resolution**3 <= _MAX_CELLS,
             f"{self.n_cascades} cascades of {self.resolution}^3 cells exceed int32 indexing")
        need(len(self.center) == 3 and all(math.isfinite(float(c)) for c in self.center),
             f"center must be three finite floats, got {self.center!r}")
        object.__setattr__(self, "center", tuple(float(c) for c in self.center))  # a clean cache key
        need(math.isfinite(self.half_size) and self.half_size > 0, f"half_size must be > 0, got {self.half_size}")
        need(0.0 < self.decay <= 1.0, f"decay must be in (0, 1], got {self.decay}")
        need(self.threshold >= 0.0, f"threshold must be >= 0, got {self.threshold}")
        need(self.warmup_steps >= 0 and self.update_every >= 1,
             f"warmup_steps >= 0 and update_every >= 1, got {self.warmup_steps}, {self.update_every}")

    @property
    def n_cells(self) -> int:
        """Cells per cascade, res^3."""
        return self.resolution**3

    def cascade_half_size(self, k: int) -> float:
        """Half the edge of cascade k's cube (world units)."""
        return self.half_size * 2.0**k

    def cell_size(self, k: int) -> float:
        """Edge of one cell of cascade k (world units)."""
        return 2.0 * self.cascade_half_size(k) / self.resolution

    @property
    def min_step(self) -> float:
        """instant-ngp's step, sqrt(3) / 1024 of cascade 0's edge: 1024 steps along its diagonal."""
        return math.sqrt(3.0) * 2.0 * self.half_size / 1024.0

    @property
    def max_step(self) -> float:
        """The cone-stepping cap, the diagonal of one cell of the coarsest cascade (sqrt(3) 2^(C-1) / 128
        of cascade 0's edge at res 128)."""
        return math.sqrt(3.0) * self.cell_size(self.n_cascades - 1)
