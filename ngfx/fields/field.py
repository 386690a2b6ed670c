"""`NeuralField`: hash-grid encoding then fused MLP, points [N, D] in [0, 1]^D -> values [N, n_outputs].

The field behind instant-ngp's image, SDF and volume apps (REFERENCE 4.7). It owns two parameters, the
hash table `grid.table` [n_entries, F] and the flat MLP weights `mlp.params` [n_params], both float32 masters
(dtype "float16" computes with half copies, see hashgrid.py / mlp.py). `param_groups()` lists them for
`ngfx.train.sparse_adam.SparseAdam`: the table as a sparse group (rows skipped when not looked up), the MLP
as a dense one (the trainer adds its L2 weight_decay there).

Saving: `config_dict()` is a plain JSON-able dict (format marker, both configs, dtype) and `state_dict()`
holds two tensors, so `saved_state()` = {"field": config_dict(), "params": state_dict()} goes through
`ngfx.train.checkpoint.save_checkpoint` and loads with torch.load(weights_only=True).
`from_config_dict(d)` rebuilds the module (zero parameters: load the state_dict next) and
`from_saved_state(saved)` the trained one; both raise InputError naming the field for a dict of another
format, with bad values or with parameters of the wrong shapes.
"""

from typing import Literal

import torch

from ngfx.errors import InputError
from ngfx.fields.hashgrid import FIELD_DTYPES, HashGrid, check_field_args
from ngfx.fields.mlp import FusedMLP
from ngfx.kernels.encodings.hashgrid.config import HashGridConfig
from ngfx.kernels.networks.mlp.config import MLPConfig
from ngfx.train.config import config_from_dict, config_to_dict

__all__ = ["FIELD_FORMAT", "NeuralField"]

FIELD_FORMAT = "ngfx-neural-field-1"


class NeuralField(torch.nn.Module):
    """encode (HashGrid) then MLP (FusedMLP); mlp_cfg.n_inputs must equal grid_cfg.n_outputs (L * F).

    seed: the grid's table is drawn from seed, the MLP weights from seed + 1 (CPU generators). device:
    where the parameters live (None: `ngfx.kernels.runtime.device()` for ops="kernels", else the CPU)."""

    def __init__(self, grid_cfg: HashGridConfig, mlp_cfg: MLPConfig, *,
                 dtype: Literal["float32", "float16"] = "float32", seed: int = 0, device=None,
                 ops: Literal["kernels", "reference"] = "kernels", init: bool = True):
        super().__init__()
        check_field_args(dtype, ops)
        if not isinstance(grid_cfg, HashGridConfig) or not isinstance(mlp_cfg, MLPConfig):
            raise TypeError(f"expected a HashGridConfig and an MLPConfig, got {type(grid_cfg).__name__} and "
                            f"{type(mlp_cfg).__name__}")
        if mlp_cfg.n_inputs != grid_cfg.n_outputs:
            raise ValueError(f"the MLP takes {mlp_cfg.n_inputs} inputs but the hash grid gives "
                             f"{grid_cfg.n_outputs} features (n_levels {grid_cfg.n_levels} x n_features "
                             f"{grid_cfg.n_features}); set MLPConfig.n_inputs={grid_cfg.n_outputs}")
        if device is None:
            from ngfx.kernels import runtime

            device = runtime.device() if ops == "kernels" else torch.device("cpu")
        self.dtype, self.ops = dtype, ops
        self.grid = HashGrid(grid_cfg, dtype, seed=seed, device=device, ops=ops, init=init)
        self.mlp = FusedMLP(mlp_cfg, dtype, seed=seed + 1, device=device, ops=ops, init=init)

    @property
    def grid_cfg(self) -> HashGridConfig:
        return self.grid.cfg

    @property
    def mlp_cfg(self) -> MLPConfig:
        return self.mlp.cfg

    @property
    def n_dims(self) -> int:
        """D, the input dimension (2 for images)."""
        return self.grid.cfg.n_dims

    @property
    def n_outputs(self) -> int:
        return self.mlp.cfg.n_outputs

    @property
    def device(self) -> torch.device:
        return self.grid.table.device

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """Values [N, n_outputs] float32 at points [N, D] in [0, 1]^D (outside: clamped by the encoding)."""
        return self.mlp(self.grid(points))

    def param_groups(self) -> list[dict]:
        """[{"name": "table", "params": [table], "sparse": True}, {"name": "mlp", "params": [params],
        "sparse": False}], ready for SparseAdam (add lr / weight_decay per group as needed)."""
        return [{"name": "table", "params": [self.grid.table], "sparse": True},
                {"name": "mlp", "params": [self.mlp.params], "sparse": False}]

    def config_dict(self) -> dict:
        """What `from_config_dict` needs to rebuild this module: plain str / int / bool values only."""
        return {"format": FIELD_FORMAT, "grid": config_to_dict(self.grid_cfg), "mlp": config_to_dict(self.mlp_cfg),
                "dtype": self.dtype}

    @classmethod
    def from_config_dict(cls, d: dict, *, device=None, ops: Literal["kernels", "reference"] = "kernels",
                         file=None) -> "NeuralField":
        """The module `d` (from `config_dict`) describes, with zero parameters: load a state_dict next.
        `file` names the checkpoint in error messages."""
        if not isinstance(d, dict) or d.get("format") != FIELD_FORMAT:
            found = d.get("format") if isinstance(d, dict) else type(d).__name__
            raise InputError(f"is not a neural-field config (format {found!r}, expected {FIELD_FORMAT!r})",
                             file=file, field="field", fix="load a checkpoint written by ngfx's field trainers")
        unknown = set(d) - {"format", "grid", "mlp", "dtype"}
        if unknown:
            raise InputError(f"unknown keys {sorted(unknown)}", file=file, field="field")
        if d.get("dtype") not in FIELD_DTYPES:
            raise InputError(f"expected one of {list(FIELD_DTYPES)}, got {d.get('dtype')!r}", file=file,
                             field="field.dtype")
        grid_cfg = config_from_dict(HashGridConfig, d.get("grid"), file=file, prefix="field.grid.")
        mlp_cfg = config_from_dict(MLPConfig, d.get("mlp"), file=file, prefix="field.mlp.")
        try:
            return cls(grid_cfg, mlp_cfg, dtype=d["dtype"], device=device, ops=ops, init=False)
        except ValueError as e:
            raise InputError(str(e), file=file, field="field") from None

    def saved_state(self) -> dict:
        """{"field": config_dict(), "params": detached state_dict}: a checkpoint-ready dict."""
        return {"field": self.config_dict(), "params": {k: v.detach() for k, v in self.state_dict().items()}}

    @classmethod
    def from_saved_state(cls, saved: dict, *, device=None, ops: Literal["kernels", "reference"] = "kernels",
                         file=None) -> "NeuralField":
        """The field `saved_state()` wrote (config and parameters); InputError when they do not fit."""
        if not isinstance(saved, dict) or not {"field", "params"} <= set(saved):
            raise InputError("holds no neural field (no 'field' and 'params' entries)", file=file)
        field = cls.from_config_dict(saved["field"], device=device, ops=ops, file=file)
        params = saved["params"]
        expected = {k: tuple(v.shape) for k, v in field.state_dict().items()}
        found = {k: tuple(v.shape) for k, v in params.items()} if isinstance(params, dict) else None
        if found != expected:
            raise InputError(f"its parameters {found} do not fit its config, which needs {expected}", file=file,
                             field="params", fix="the file is damaged or was edited; train again")
        field.load_state_dict(params)
        return field
