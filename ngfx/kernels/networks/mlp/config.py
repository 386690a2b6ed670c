"""The fused MLP's compile-time shape: y = act_out(W_h relu(... relu(W_1 relu(W_0 x)))), no biases (as tcnn).

Parameters are one flat vector holding the weight matrices one after another, each row-major (out, in):
W_0 (width, n_inputs), W_1 .. W_{h-1} (width, width), W_h (n_outputs, width), h = n_hidden_layers.
Torch-free and Taichi-free: modules and trainers build configs without importing either.
"""

import dataclasses

__all__ = ["ACTIVATIONS", "MAX_FEATURES", "WIDTHS", "MLPConfig"]

ACTIVATIONS = ("none", "sigmoid", "exp", "softplus")
WIDTHS = (16, 32, 64, 128)  # tcnn's fully fused widths; register tiles and shared buffers are sized for them
MAX_FEATURES = 128  # n_inputs and n_outputs: one block's activation buffer holds max(n_inputs, width) channels
MAX_HIDDEN_LAYERS = 8


def _check_range(name: str, value, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MLPConfig:
    """Shape of a fully fused MLP (a kernel-factory cache key: every field is a compile-time constant).

    Limits: n_inputs and n_outputs in 1..128 (any value, no padding to 16 needed), width 16, 32, 64 or 128,
    1..8 hidden layers, hidden activation ReLU, output activation one of ACTIVATIONS:
    "none" (y = z), "sigmoid" (1 / (1 + e^-z)), "exp" (e^z, overflows float16 past z = 11) or
    "softplus" (log(1 + e^z), and z itself past z = 20, as torch's softplus).
    """

    n_inputs: int
    n_outputs: int
    width: int = 64
    n_hidden_layers: int = 2
    output_activation: str = "none"

    def __post_init__(self):
        _check_range("n_inputs", self.n_inputs, 1, MAX_FEATURES)
        _check_range("n_outputs", self.n_outputs, 1, MAX_FEATURES)
        if not isinstance(self.width, int) or isinstance(self.width, bool) or self.width not in WIDTHS:
            raise ValueError(f"width must be 16, 32, 64 or 128, got {self.width}")
        _check_range("n_hidden_layers", self.n_hidden_layers, 1, MAX_HIDDEN_LAYERS)
        if self.output_activation not in ACTIVATIONS:
            raise ValueError(f"output_activation must be one of {', '.join(ACTIVATIONS)}, "
                             f"got {self.output_activation!r}")

    @property
    def n_layers(self) -> int:
        """Weight matrices: the hidden layers plus the output layer."""
        return self.n_hidden_layers + 1

    def layer_shapes(self) -> list[tuple[int, int]]:
        """(out, in) of each weight matrix, input layer first."""
        w = self.width
        return [(w, self.n_inputs)] + [(w, w)] * (self.n_hidden_layers - 1) + [(self.n_outputs, w)]

    def layer_offsets(self) -> list[int]:
        """Start of each weight matrix in the flat parameter vector (same order as layer_shapes)."""
        offsets, start = [], 0
        for out, inp in self.layer_shapes():
            offsets.append(start)
            start += out * inp
        return offsets

    @property
    def n_params(self) -> int:
        """Length of the flat parameter vector."""
        return sum(out * inp for out, inp in self.layer_shapes())
