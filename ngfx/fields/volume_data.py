"""Dense 3D volumes for neural-volume fitting: `.npy` files, and a procedural cloud ngfx generates itself.

A volume is density [D, H, W] float32 >= 0 (extinction per unit length of the unit cube it fills), with
optional per-voxel albedo or emission [D, H, W, 3]. Index order: axis 0 is z, axis 1 is y, axis 2 is x, and
voxel (k, j, i) is centred at ((i + 0.5) / W, (j + 0.5) / H, (k + 0.5) / D) in [0, 1]^3, the pixel-centre
convention of `ngfx.scenes.camera` in three dimensions. A `.npy` file holds the density array ([D, H, W]) or
density and colour together ([D, H, W, 4]: density, then RGB albedo).

The procedural cloud is a sphere of fractal value noise (sum of octaves of trilinearly interpolated random
lattices), shaped by a radial falloff and thresholded so that it has sharp wisps and empty space around it:
the structure a hash grid must resolve. Deterministic for a seed.
"""

import dataclasses
from pathlib import Path

import numpy as np

from ngfx.errors import InputError

__all__ = ["Volume", "load_volume", "procedural_cloud"]


@dataclasses.dataclass(frozen=True, eq=False)
class Volume:
    """density [D, H, W] float32 >= 0; albedo [D, H, W, 3] float32 in [0, 1] or None (module docstring)."""

    density: np.ndarray
    albedo: np.ndarray | None = None
    source: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.density.shape)

    def sample(self, points: np.ndarray) -> np.ndarray:
        """Trilinear density at points [N, 3] in [0, 1]^3 (x, y, z; clamped at the edges)."""
        return _trilinear(self.density, points)


def _trilinear(grid: np.ndarray, points: np.ndarray) -> np.ndarray:
    d, h, w = grid.shape[:3]
    p = np.clip(points, 0.0, 1.0) * np.array([w, h, d]) - 0.5
    p0 = np.floor(p).astype(np.int64)
    f = p - p0
    out = 0.0
    for corner in range(8):
        c = np.array([(corner >> a) & 1 for a in range(3)])
        idx = np.clip(p0 + c, 0, np.array([w - 1, h - 1, d - 1]))
        weight = np.prod(np.where(c == 1, f, 1.0 - f), axis=1)
        out = out + weight * grid[idx[:, 2], idx[:, 1], idx[:, 0]]
    return out


def load_volume(path) -> Volume:
    """A Volume from a `.npy` file (module docstring); InputError naming the file for anything else."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise InputError(f"unsupported volume format '{path.suffix or '(none)'}'", file=path,
                         fix="give a .npy array [D, H, W] (density) or [D, H, W, 4] (density + albedo)")
    if not path.is_file():
        raise InputError("no such file", file=path, fix="check the path")
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"is not a readable .npy array ({str(e).splitlines()[0][:80]})", file=path) from None
    if data.ndim not in (3, 4) or (data.ndim == 4 and data.shape[-1] != 4) or min(data.shape[:3]) < 2:
        raise InputError(f"has shape {data.shape}; expected [D, H, W] or [D, H, W, 4] with D, H, W >= 2",
                         file=path, field="shape")
    if data.dtype.kind not in "fiu":
        raise InputError(f"has dtype {data.dtype}; expected numbers", file=path, field="dtype")
    data = data.astype(np.float32)
    if not np.isfinite(data).all():
        raise InputError(f"holds {int((~np.isfinite(data)).sum())} NaN or infinite values", file=path,
                         fix="clean the volume first")
    density = data if data.ndim == 3 else data[..., 0]
    if density.min() < 0:
        raise InputError(f"has negative densities (min {density.min():.3g})", file=path, field="density")
    albedo = None if data.ndim == 3 else np.clip(data[..., 1:], 0.0, 1.0)
    return Volume(np.ascontiguousarray(density), albedo, str(path))


def _value_noise(shape, cells: int, rng: np.random.Generator) -> np.ndarray:
    """One octave: a random (cells + 1)^3 lattice trilinearly interpolated onto `shape`."""
    lattice = rng.random((cells + 1,) * 3, dtype=np.float64)
    axes = [np.linspace(0.0, cells, n, endpoint=False) + cells / (2 * n) for n in shape]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    p = np.stack([x, y, z], -1).reshape(-1, 3)
    p0 = np.minimum(np.floor(p).astype(np.int64), cells - 1)
    f = p - p0
    f = f * f * (3.0 - 2.0 * f)  # smooth between lattice points
    out = np.zeros(p.shape[0])
    for corner in range(8):
        c = np.array([(corner >> a) & 1 for a in range(3)])
        idx = p0 + c
        out += np.prod(np.where(c == 1, f, 1.0 - f), axis=1) * lattice[idx[:, 2], idx[:, 1], idx[:, 0]]
    return out.reshape(shape)


def procedural_cloud(size: int = 64, *, seed: int = 0, octaves: int = 5, density_scale: float = 40.0,
                     coloured: bool = False) -> Volume:
    """A size^3 cloud (module docstring): fractal noise in a soft sphere of radius 0.4, thresholded; density
    up to about `density_scale`. coloured adds an albedo that varies slowly through the cloud."""
    if size < 4 or octaves < 1:
        raise ValueError(f"need size >= 4 and octaves >= 1, got {size}, {octaves}")
    rng = np.random.default_rng(seed)
    shape = (size, size, size)
    noise = sum(0.5 ** o * _value_noise(shape, 2 ** (o + 1), rng) for o in range(octaves))
    noise /= sum(0.5 ** o for o in range(octaves))
    c = (np.arange(size) + 0.5) / size - 0.5
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    radius = np.sqrt(x * x + (1.4 * y) ** 2 + z * z)  # a little flattened, as clouds are
    falloff = np.clip(1.0 - radius / 0.4, 0.0, 1.0)
    density = np.clip(noise * falloff * 2.2 - 0.45, 0.0, None) * density_scale
    albedo = None
    if coloured:
        tint = _value_noise(shape, 2, rng)[..., None]
        albedo = np.clip(np.concatenate([0.7 + 0.3 * tint, 0.75 + 0.2 * (1 - tint), 0.9 * np.ones_like(tint)],
                                        -1), 0.0, 1.0).astype(np.float32)
    return Volume(density.astype(np.float32), albedo, f"procedural cloud (size {size}, seed {seed})")
