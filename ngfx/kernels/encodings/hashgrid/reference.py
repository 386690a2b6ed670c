"""Pure-torch multi-resolution hash-grid encoding (REFERENCE 4.1, tcnn's convention): the twin of op.py,
same signature, differentiable by autograd in the table and in the points. Used by the tests.

Per level l and point x (clamped to [0, 1]^D): p = scale_l x + 0.5, g = floor(p), w = p - g (smoothstep:
s = w^2 (3 - 2 w), else s = w); for each corner c in {0, 1}^D the vertex v = g + c has weight
prod_d (c_d ? s_d : 1 - s_d) and row offset_l + (idx(v) mod T_l), with
  dense levels:  idx = sum_d v_d res_l^d   (v_d may reach res_l at the upper edge and wrap: tcnn's choice),
  hashed levels: idx = xor_d (v_d pi_d mod 2^32), pi = (1, 2654435761, 805459861, 3674653429).
Indices are computed in int64 (masked to 32 bits for the hash). Features are gathered by integer indexing,
so autograd's backward of the gather is the scatter-add (`index_put_(accumulate=True)`) REFERENCE 8 asks
for; floor has zero slope, so d out / d x is REFERENCE 4.1's input gradient.
"""

import torch

from ngfx.kernels.encodings.hashgrid.config import HashGridConfig

__all__ = ["PRIMES", "compute_dtype", "encode_hashgrid", "level_rows"]

PRIMES = (1, 2654435761, 805459861, 3674653429)
_MASK32 = 0xFFFFFFFF


def compute_dtype(points: torch.Tensor, table: torch.Tensor) -> torch.dtype:
    """float64 when both inputs are float64, else float32 (float16 tables accumulate in float32)."""
    return torch.float64 if points.dtype == table.dtype == torch.float64 else torch.float32


def level_rows(vertices: torch.Tensor, cfg: HashGridConfig, level: int) -> torch.Tensor:
    """Table rows (int64, offsets included) of integer grid vertices [..., D] at `level` (module docstring)."""
    v = vertices.long()
    res, size = cfg.level_resolutions()[level], cfg.level_sizes()[level]
    if cfg.level_dense()[level]:
        idx = sum(v[..., d] * res**d for d in range(cfg.n_dims))
    else:
        idx = torch.zeros_like(v[..., 0])
        for d in range(cfg.n_dims):
            idx = idx ^ ((v[..., d] * PRIMES[d]) & _MASK32)
    return idx % size + cfg.level_offsets()[level]


def _weights(w: torch.Tensor, smoothstep: bool) -> torch.Tensor:
    return w * w * (3 - 2 * w) if smoothstep else w


def encode_hashgrid(points: torch.Tensor, table: torch.Tensor, cfg: HashGridConfig) -> torch.Tensor:
    """Encode points [N, D] in [0, 1]^D (outside: clamped) with a table [cfg.n_entries, F] whose levels are
    concatenated level by level; returns [N, L F], level-major, in `compute_dtype`."""
    dtype = compute_dtype(points, table)
    x = points.to(dtype).clamp(0.0, 1.0)  # clamp passes no gradient outside [0, 1]
    values = table.to(dtype)
    n_dims = cfg.n_dims
    corners = [[(c >> d) & 1 for d in range(n_dims)] for c in range(1 << n_dims)]
    features = []
    for level, scale in enumerate(cfg.level_scales()):
        p = x * scale + 0.5
        g = torch.floor(p).detach()
        s = _weights(p - g, cfg.smoothstep)
        acc = 0
        for bits in corners:
            vertex = g.long() + torch.tensor(bits, dtype=torch.long, device=x.device)
            weight = 1
            for d, bit in enumerate(bits):
                weight = weight * (s[:, d] if bit else 1 - s[:, d])
            acc = acc + weight[:, None] * values[level_rows(vertex, cfg, level)]
        features.append(acc)
    return torch.cat(features, dim=1)
