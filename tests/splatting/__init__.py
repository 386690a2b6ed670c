"""Builders shared by the splatting tests: seeded random models, and PLY files written and parsed by hand."""

import numpy as np
import torch

from ngfx.splatting.model import Gaussians3D
from ngfx.splatting.model4d import Gaussians4D


def random_gaussians_3d(n: int = 7, sh_degree: int = 3, *, seed: int = 0, render_mode: str = "classic",
                        dtype=torch.float32) -> Gaussians3D:
    """n Gaussians with random raw parameters in trained-model ranges."""
    g = torch.Generator().manual_seed(seed)
    k = (sh_degree + 1) ** 2
    return Gaussians3D(
        means=torch.randn(n, 3, generator=g, dtype=dtype) * 2,
        log_scales=torch.rand(n, 3, generator=g, dtype=dtype) * 4 - 6,
        quats=torch.randn(n, 4, generator=g, dtype=dtype),
        opacity_logits=torch.randn(n, generator=g, dtype=dtype) * 3,
        sh_dc=torch.randn(n, 1, 3, generator=g, dtype=dtype),
        sh_rest=torch.randn(n, k - 1, 3, generator=g, dtype=dtype) * 0.1,
        render_mode=render_mode,
    )


def random_gaussians_4d(n: int = 7, sh_degree: int = 3, sh_degree_t: int = 1, *, rotation: str = "dualquat",
                        seed: int = 0, time_range=(0.0, 2.5), render_mode: str = "classic") -> Gaussians4D:
    """n XYZT Gaussians with random raw parameters; t inside time_range."""
    g = torch.Generator().manual_seed(seed)
    k = (sh_degree_t + 1) * (sh_degree + 1) ** 2
    means4 = torch.randn(n, 4, generator=g)
    means4[:, 3] = time_range[0] + torch.rand(n, generator=g) * (time_range[1] - time_range[0])
    return Gaussians4D(
        means4=means4,
        log_scales=torch.rand(n, 4, generator=g) * 4 - 6,
        rotations=torch.randn(n, 8, generator=g),
        opacity_logits=torch.randn(n, generator=g) * 3,
        sh_dc=torch.randn(n, 1, 3, generator=g),
        sh_rest=torch.randn(n, k - 1, 3, generator=g) * 0.1,
        rotation=rotation,
        sh_degree_t=sh_degree_t,
        time_range=time_range,
        render_mode=render_mode,
    )


_TYPES = {"float": "f4", "double": "f8", "uchar": "u1", "int": "i4", "short": "i2", "ushort": "u2"}
_ORDER = {"binary_little_endian": "<", "binary_big_endian": ">"}


def inria_names(degree: int, normals: bool = True) -> list[str]:
    """The INRIA property order (REFERENCE 1.9)."""
    n_rest = 3 * ((degree + 1) ** 2 - 1)
    return (["x", "y", "z"] + (["nx", "ny", "nz"] if normals else []) + [f"f_dc_{i}" for i in range(3)]
            + [f"f_rest_{i}" for i in range(n_rest)] + ["opacity"] + [f"scale_{i}" for i in range(3)]
            + [f"rot_{i}" for i in range(4)])


def write_ply(path, columns: dict, *, types=None, fmt="binary_little_endian", comments=(), before="", after=""):
    """A one-vertex-element PLY with the columns in dict order; `types` maps names to PLY types (default
    float); `before`/`after` are extra raw header lines for other elements (their data must be appended)."""
    types = types or {}
    count = len(next(iter(columns.values())))
    lines = ["ply", f"format {fmt} 1.0", *(f"comment {c}" for c in comments), *before.splitlines(),
             f"element vertex {count}", *(f"property {types.get(n, 'float')} {n}" for n in columns),
             *after.splitlines(), "end_header"]
    header = ("\n".join(lines) + "\n").encode()
    if fmt == "ascii":
        rows = zip(*(np.asarray(c).tolist() for c in columns.values()))
        body = "".join(" ".join(repr(v) for v in row) + "\n" for row in rows).encode()
    else:
        dtype = np.dtype([(n, _ORDER[fmt] + _TYPES[types.get(n, "float")]) for n in columns])
        table = np.empty(count, dtype=dtype)
        for name, values in columns.items():
            table[name] = values
        body = table.tobytes()
    path.write_bytes(header + body)
    return path


def read_raw(path) -> tuple[list[str], list[str], np.ndarray]:
    """(comments, property names, [N, P] float32 body) of a float32 little-endian PLY, parsed by hand."""
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    lines = data[:end].decode().splitlines()
    comments = [line[len("comment "):] for line in lines if line.startswith("comment ")]
    names = [line.split()[2] for line in lines if line.startswith("property float ")]
    return comments, names, np.frombuffer(data[end:], dtype="<f4").reshape(-1, len(names))


def random_columns(names, n=6, seed=0) -> dict:
    """Random float32 values per property name (rot_* away from zero)."""
    rng = np.random.default_rng(seed)
    columns = {name: rng.normal(size=n).astype(np.float32) for name in names}
    for i in range(4):
        columns[f"rot_{i}"] = columns.get(f"rot_{i}", np.zeros(n, np.float32)) + 2
    return {name: columns[name] for name in names}
