"""The hash-grid encoding's compile-time knobs and the per-level layout they imply (REFERENCE 4.1, tcnn's
convention). Pure Python: no torch, no taichi, so apps and the fused-MLP builder can size tables freely.

Per level l of L, with growth b = exp((ln N_max - ln N_min) / (L - 1)) (b = 1 when L = 1):
  scale_l = N_min b^l - 1,   res_l = ceil(scale_l) + 1,   T_l = min(roundup(res_l^D, 8), 2^log2_table_size),
  dense_l = res_l^D <= T_l (direct indexing, else spatial hashing),  offsets = cumulative T_l.
The table holds sum_l T_l rows of F features, level 0 first. N_min b^l is computed in float64 and snapped
to the nearest integer when within 1e-9 of it, so the finest level is exactly N_max (16 b^15 with
b = 1.38191... is 2048.0000000000032 in float64, whose ceil would give res 2049; tcnn's float32 exp2 lands
on either side of the integer depending on L).
"""

import dataclasses
import math

__all__ = ["HashGridConfig"]

_SNAP = 1e-9  # relative distance under which N_min b^l counts as an integer (float64 noise, see above)
_MAX_RESOLUTION = 1 << 24  # keeps floor(scale x + 0.5) well inside int32 and u32 vertex ids
_MAX_ELEMENTS = (1 << 31) - 1  # the table's n_entries * n_features must be addressable with int32


@dataclasses.dataclass(frozen=True, kw_only=True)
class HashGridConfig:
    """Multi-resolution hash grid over [0, 1]^D (x, y, z[, t]); a kernel-factory cache key.

    n_dims: D, 2, 3 or 4. n_levels: L in 1..32. n_features: F per level, 1, 2, 4 or 8.
    log2_table_size: log2 of T, the most rows a level may have (4..24; 14..24 in practice).
    base_resolution / finest_resolution: N_min and N_max, 1 <= N_min <= N_max <= 2^24 vertices per axis.
    smoothstep: interpolate with w^2 (3 - 2 w) instead of w (C1 across cells; zero slope at vertices)."""

    n_dims: int = 3
    n_levels: int = 16
    n_features: int = 2
    log2_table_size: int = 19
    base_resolution: int = 16
    finest_resolution: int = 2048
    smoothstep: bool = False

    def __post_init__(self):
        def need(ok: bool, message: str):
            if not ok:
                raise ValueError(f"HashGridConfig: {message}")

        for name in ("n_dims", "n_levels", "n_features", "log2_table_size", "base_resolution",
                     "finest_resolution"):
            value = getattr(self, name)
            need(isinstance(value, int) and not isinstance(value, bool), f"{name} must be an int, got {value!r}")
        need(isinstance(self.smoothstep, bool), f"smoothstep must be a bool, got {self.smoothstep!r}")
        need(self.n_dims in (2, 3, 4), f"n_dims must be 2, 3 or 4, got {self.n_dims}")
        need(1 <= self.n_levels <= 32, f"n_levels must be in 1..32, got {self.n_levels}")
        need(self.n_features in (1, 2, 4, 8), f"n_features must be 1, 2, 4 or 8, got {self.n_features}")
        need(4 <= self.log2_table_size <= 24, f"log2_table_size must be in 4..24, got {self.log2_table_size}")
        need(1 <= self.base_resolution <= _MAX_RESOLUTION,
             f"base_resolution must be in 1..{_MAX_RESOLUTION}, got {self.base_resolution}")
        need(self.base_resolution <= self.finest_resolution <= _MAX_RESOLUTION,
             f"finest_resolution must be in base_resolution..{_MAX_RESOLUTION} "
             f"({self.base_resolution}..{_MAX_RESOLUTION}), got {self.finest_resolution}")
        need(self.n_entries * self.n_features <= _MAX_ELEMENTS,
             f"the table's {self.n_entries} x {self.n_features} values exceed int32 indexing; use fewer levels "
             "or a smaller log2_table_size")

    @property
    def per_level_scale(self) -> float:
        """b, the resolution growth from one level to the next (1 when L = 1)."""
        if self.n_levels == 1:
            return 1.0
        return math.exp((math.log(self.finest_resolution) - math.log(self.base_resolution)) / (self.n_levels - 1))

    @property
    def table_size(self) -> int:
        """T = 2^log2_table_size, the most rows a level may have."""
        return 1 << self.log2_table_size

    def level_scales(self) -> tuple[float, ...]:
        """scale_l = N_min b^l - 1 per level: x in [0, 1] maps to p = scale_l x + 0.5 in grid units."""
        b, out = self.per_level_scale, []
        for level in range(self.n_levels):
            s = self.base_resolution * b**level
            if abs(s - round(s)) <= _SNAP * s:
                s = float(round(s))
            out.append(s - 1.0)
        return tuple(out)

    def level_resolutions(self) -> tuple[int, ...]:
        """res_l = ceil(scale_l) + 1 vertices per axis."""
        return tuple(math.ceil(s) + 1 for s in self.level_scales())

    def level_sizes(self) -> tuple[int, ...]:
        """T_l = min(roundup(res_l^D, 8), T) rows per level (multiples of 8 keep rows aligned)."""
        return tuple(min(-(-r**self.n_dims // 8) * 8, self.table_size) for r in self.level_resolutions())

    def level_dense(self) -> tuple[bool, ...]:
        """Whether level l indexes its vertices directly (res_l^D <= T_l) rather than by hashing."""
        return tuple(r**self.n_dims <= t for r, t in zip(self.level_resolutions(), self.level_sizes()))

    def level_offsets(self) -> tuple[int, ...]:
        """First table row of each level, then the total: length L + 1."""
        out = [0]
        for size in self.level_sizes():
            out.append(out[-1] + size)
        return tuple(out)

    @property
    def n_entries(self) -> int:
        """Rows of the table, all levels concatenated: sum_l T_l."""
        return self.level_offsets()[-1]

    @property
    def n_outputs(self) -> int:
        """Features per point, L * F, level-major."""
        return self.n_levels * self.n_features
