"""Checks for values read from user files; each failure is an InputError naming the offending field.

Fields are written relative to the object being parsed ("rotation_wxyz"); `field_prefix` moves them
under the enclosing object's place ("nodes[2].transform.rotation_wxyz") as errors travel outwards.
"""

import contextlib
import math

import numpy as np

from ngfx.errors import InputError

__all__ = ["field_prefix", "finite_vector", "is_number"]


def is_number(value) -> bool:
    """True for a finite int or float (numpy scalars included), False for bools, NaN, inf and the rest."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return False
    return math.isfinite(value)


def finite_vector(value, length: int, field: str | None, *, low: float = -math.inf,
                  high: float = math.inf) -> tuple[float, ...]:
    """`value` as a tuple of `length` finite floats in [low, high], or InputError on `field`."""
    ok = isinstance(value, (list, tuple, np.ndarray)) and len(value) == length and all(
        is_number(v) and low <= v <= high for v in value)
    if not ok:
        span = "" if math.isinf(low) and math.isinf(high) else f" in [{low:g}, {high:g}]"
        shown = value.tolist() if isinstance(value, np.ndarray) else value
        raise InputError(f"must be a list of {length} finite numbers{span}, got {shown!r}", field=field)
    return tuple(float(v) for v in value)


@contextlib.contextmanager
def field_prefix(prefix: str):
    """Re-raise InputErrors from the block with their field placed under `prefix`."""
    try:
        yield
    except InputError as e:
        field = f"{prefix}.{e.field}" if e.field else prefix
        raise InputError(e.problem, file=e.file, field=field, fix=e.fix) from None
