"""`HashGrid`: the multi-resolution hash encoding (REFERENCE 4.1) as a torch module with an fp32 master table.

The parameter `table` [cfg.n_entries, F] is float32 and is what the optimizer updates (`ngfx.train.sparse_adam`,
one row per table entry). With dtype "float16" each forward hands the op a float16 copy, `table.half()`, as
tcnn stores it (half the bytes per gather); autograd casts the gradient back onto the float32 master, so
small updates are not lost to fp16 rounding of the weights. Initialisation: U(-1e-4, 1e-4) (REFERENCE 4.1,
tcnn's value), drawn on the CPU from `generator` (or a fresh one seeded with `seed`), so a seed gives the same
table on every device.

ops="kernels" runs the Taichi op (`ngfx.kernels.encodings.encode_hashgrid`; tensors on
`ngfx.kernels.runtime.device()`), ops="reference" its pure-torch twin (any device; slow, for tests).
"""

from typing import Literal

import torch

from ngfx.kernels.encodings.hashgrid.config import HashGridConfig

__all__ = ["FIELD_DTYPES", "HashGrid", "check_field_args"]

FIELD_DTYPES = ("float32", "float16")
INIT_RANGE = 1e-4


def check_field_args(dtype: str, ops: str) -> None:
    """ValueError unless dtype is "float32" / "float16" and ops "kernels" / "reference"."""
    if dtype not in FIELD_DTYPES:
        raise ValueError(f"dtype must be one of {FIELD_DTYPES} (the compute precision), got {dtype!r}")
    if ops not in ("kernels", "reference"):
        raise ValueError(f"ops must be 'kernels' or 'reference', got {ops!r}")


def encode_op(ops: str):
    """The encode_hashgrid function that `ops` names (imported on first use: no Taichi work at import)."""
    if ops == "reference":
        from ngfx.kernels.encodings.hashgrid.reference import encode_hashgrid
    else:
        from ngfx.kernels.encodings.hashgrid.op import encode_hashgrid
    return encode_hashgrid


class HashGrid(torch.nn.Module):
    """Points [N, D] in [0, 1]^D -> features [N, L * F] float32, level-major (module docstring).

    init=False leaves the table zero (cheap for a 2^24-row table about to receive a state_dict)."""

    def __init__(self, cfg: HashGridConfig, dtype: Literal["float32", "float16"] = "float32", *,
                 generator: torch.Generator | None = None, seed: int = 0, device=None,
                 ops: Literal["kernels", "reference"] = "kernels", init: bool = True):
        super().__init__()
        if not isinstance(cfg, HashGridConfig):
            raise TypeError(f"cfg must be a HashGridConfig, got {type(cfg).__name__}")
        check_field_args(dtype, ops)
        self.cfg, self.dtype, self.ops = cfg, dtype, ops
        shape = (cfg.n_entries, cfg.n_features)
        if init:
            generator = generator if generator is not None else torch.Generator().manual_seed(seed)
            table = torch.empty(shape, dtype=torch.float32, device=generator.device)
            table.uniform_(-INIT_RANGE, INIT_RANGE, generator=generator)
            table = table.to(device) if device is not None else table
        else:
            table = torch.zeros(shape, dtype=torch.float32, device=device)
        self.table = torch.nn.Parameter(table)

    def compute_table(self) -> torch.Tensor:
        """The table the op reads: the master itself (float32) or its float16 copy (differentiable)."""
        return self.table.half() if self.dtype == "float16" else self.table

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        if points.ndim != 2 or points.shape[1] != self.cfg.n_dims:
            raise ValueError(f"points must be [N, {self.cfg.n_dims}] in [0, 1]^{self.cfg.n_dims}, "
                             f"got {tuple(points.shape)}")
        return encode_op(self.ops)(points, self.compute_table(), self.cfg)

    def extra_repr(self) -> str:
        c = self.cfg
        return (f"D={c.n_dims}, L={c.n_levels}, F={c.n_features}, T=2^{c.log2_table_size}, "
                f"N_min={c.base_resolution}, N_max={c.finest_resolution}, rows={c.n_entries}, dtype={self.dtype}")
