"""Neural fields: the hash-grid encoding and the fused MLP as torch modules, the field that chains them,
and the apps built on it (image fitting now; NeRF, neural SDF and volumes with later issues).

- `HashGrid` (hashgrid.py): fp32 master table, optional fp16 compute copy, U(-1e-4, 1e-4) init;
- `FusedMLP` (mlp.py): bias-free ReLU MLP, flat fp32 weights, scale-preserving uniform init;
- `NeuralField` (field.py): encode then MLP, configs as plain dicts for checkpoints, Adam parameter groups.
Importing this package does no Taichi work; the ops are imported on first forward.
"""

from ngfx.fields.field import NeuralField
from ngfx.fields.hashgrid import HashGrid
from ngfx.fields.mlp import FusedMLP

__all__ = ["FusedMLP", "HashGrid", "NeuralField"]
