"""Which loaded Gaussians are unusable, and dropping them with one counted warning.

Trained models in the wild hold a few broken Gaussians (NaN after a diverged step, exploded scales). One
bad Gaussian would poison a whole image (NaN propagates through blending), so they are dropped rather
than refused, and a single warning counts them per reason. A Gaussian is dropped when:
- any of its parameters is NaN or infinite (float64 values beyond float32's range become infinite);
- a log scale exceeds MAX_LOG_SCALE = 20 (exp(20) ~ 4.9e8 scene units; float32 exp overflows at ~88).
  Dropping is chosen over clamping: such a Gaussian covers the whole view at any clamp value;
- its rotation is all zeros (a quaternion of a dual quaternion, or the rotor), which has no direction.
Very small scales are kept: the 0.3-pixel dilation of the projection keeps them drawable.
"""

import warnings

import numpy as np

__all__ = ["MAX_LOG_SCALE", "drop_invalid", "invalid_gaussians"]

MAX_LOG_SCALE = 20.0


def invalid_gaussians(params: dict[str, np.ndarray], rotation_parts: int) -> dict[str, np.ndarray]:
    """Per reason, a bool mask [N] of the Gaussians to drop; each Gaussian counts under its first reason.

    `params` maps names to arrays [N, ...] and must hold "log_scales" and "rotations"; the rotation is split
    into `rotation_parts` equal blocks that must each be non-zero (1 for a quaternion or a rotor, 2 for a
    dual quaternion).
    """
    n = len(params["log_scales"])
    finite = np.ones(n, dtype=bool)
    for array in params.values():
        finite &= np.isfinite(array.reshape(n, -1)).all(axis=1)
    huge = finite & (params["log_scales"] > MAX_LOG_SCALE).any(axis=1)
    blocks = params["rotations"].reshape(n, rotation_parts, -1)
    zero = finite & ~huge & (blocks == 0).all(axis=2).any(axis=1)
    return {
        "NaN or infinite parameters": ~finite,
        f"a log scale above {MAX_LOG_SCALE:g}": huge,
        "an all-zero rotation": zero,
    }


def drop_invalid(params: dict[str, np.ndarray], masks: dict[str, np.ndarray], source) -> dict[str, np.ndarray]:
    """`params` without the Gaussians flagged in `masks`, warning once (naming `source`) if any were dropped."""
    bad = np.zeros(len(params["log_scales"]), dtype=bool)
    for mask in masks.values():
        bad |= mask
    if not bad.any():
        return params
    counts = ", ".join(f"{int(mask.sum())} with {reason}" for reason, mask in masks.items() if mask.any())
    warnings.warn(f"{source}: dropped {int(bad.sum())} of {len(bad)} Gaussians ({counts})", stacklevel=3)
    keep = ~bad
    return {name: array[keep] for name, array in params.items()}
