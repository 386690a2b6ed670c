"""Keyframed property tracks on scene nodes, in the spirit of glTF 2.0 animation channels.

A track animates one node property over scene time (seconds): `translation`, `rotation_wxyz`, `scale`
(replacing that component of the node's `Transform`) or `visible`. Interpolation modes:

- LINEAR: component-wise lerp; rotations use slerp along the shortest arc.
- STEP: the value of the last key at or before t.
- CUBICSPLINE: a cubic Hermite spline through the keys. Unlike glTF, which stores an in- and
  out-tangent with every key, our JSON stores keys only and the tangents are Catmull-Rom's finite
  differences m_k = (p_{k+1} - p_{k-1}) / (t_{k+1} - t_{k-1}) (one-sided at the ends), per second.
  Rotations are interpolated component-wise (after flipping keys into one hemisphere) and renormalized.

Outside [times[0], times[-1]] a track clamps to its first or last key. `visible` tracks hold booleans
and always step, whatever their interpolation says.
"""

import dataclasses
import itertools

import numpy as np

from ngfx.errors import InputError
from ngfx.scenes.transforms import quat_normalize, quat_slerp
from ngfx.scenes.validate import finite_vector

__all__ = ["INTERPOLATIONS", "PROPERTIES", "Track"]

PROPERTIES = {"translation": 3, "rotation_wxyz": 4, "scale": 3, "visible": 1}  # property -> value length
INTERPOLATIONS = ("LINEAR", "STEP", "CUBICSPLINE")


def _parse_values(prop: str, values) -> tuple:
    """Validated key values as a tuple of float tuples (or bools for `visible`)."""
    if prop == "visible":
        if not all(isinstance(v, bool) for v in values):
            raise InputError("visible keys must be true or false", field="values")
        return tuple(values)
    out = tuple(finite_vector(v, PROPERTIES[prop], f"values[{k}]") for k, v in enumerate(values))
    for k, v in enumerate(out):
        if prop == "rotation_wxyz" and not any(v):
            raise InputError("is the zero quaternion", field=f"values[{k}]")
    return out


@dataclasses.dataclass(frozen=True)
class Track:
    """Keys (`times` strictly increasing, in seconds) and `values` for one node property."""

    property: str
    times: tuple[float, ...]
    values: tuple
    interpolation: str = "LINEAR"

    def __post_init__(self):
        if not isinstance(self.property, str) or self.property not in PROPERTIES:
            raise InputError(f"unknown property {self.property!r}", field="property",
                             fix=f"use one of {', '.join(PROPERTIES)}")
        if not isinstance(self.interpolation, str) or self.interpolation not in INTERPOLATIONS:
            raise InputError(f"unknown interpolation {self.interpolation!r}", field="interpolation",
                             fix=f"use one of {', '.join(INTERPOLATIONS)}")
        times = self.times
        if not isinstance(times, (list, tuple, np.ndarray)) or len(times) == 0:
            raise InputError("must be a non-empty list of seconds", field="times")
        times = finite_vector(times, len(times), "times")
        if any(b <= a for a, b in itertools.pairwise(times)):
            raise InputError(f"must be strictly increasing, got {list(times)}", field="times")
        if not isinstance(self.values, (list, tuple, np.ndarray)) or len(self.values) != len(times):
            raise InputError(f"needs one value per time ({len(times)})", field="values")
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "values", _parse_values(self.property, self.values))

    @property
    def start(self) -> float:
        return self.times[0]

    @property
    def end(self) -> float:
        return self.times[-1]

    def evaluate(self, t: float):
        """The property at time t (seconds): a float64 array, a unit quaternion, or a bool for `visible`."""
        times = self.times
        k = int(np.searchsorted(times, t, side="right")) - 1  # last key at or before t
        if k < 0 or k >= len(times) - 1:  # clamp outside the keyed range
            return self._key(0 if k < 0 else len(times) - 1)
        if self.property == "visible" or self.interpolation == "STEP":
            return self._key(k)
        u = (t - times[k]) / (times[k + 1] - times[k])
        if self.interpolation == "LINEAR":
            if self.property == "rotation_wxyz":
                return quat_slerp(self.values[k], self.values[k + 1], u)
            a, b = np.array(self.values[k]), np.array(self.values[k + 1])
            return a + u * (b - a)
        return self._hermite(k, u)

    def _key(self, k: int):
        value = self.values[k]
        if self.property == "visible":
            return value
        return quat_normalize(value) if self.property == "rotation_wxyz" else np.array(value)

    def _points(self) -> np.ndarray:
        """Key values as [K, n]; quaternions flipped so that neighbours share a hemisphere."""
        p = np.array(self.values, dtype=np.float64)
        if self.property == "rotation_wxyz":
            p = quat_normalize(p)
            for k in range(1, len(p)):
                if np.dot(p[k - 1], p[k]) < 0:
                    p[k] = -p[k]
        return p

    def _tangent(self, p: np.ndarray, k: int) -> np.ndarray:
        """Catmull-Rom tangent at key k, in value units per second (one-sided at the ends)."""
        lo, hi = max(k - 1, 0), min(k + 1, len(p) - 1)
        return (p[hi] - p[lo]) / (self.times[hi] - self.times[lo])

    def _hermite(self, k: int, u: float) -> np.ndarray:
        p = self._points()
        dt = self.times[k + 1] - self.times[k]
        m0, m1 = self._tangent(p, k) * dt, self._tangent(p, k + 1) * dt
        u2, u3 = u * u, u * u * u
        out = ((2 * u3 - 3 * u2 + 1) * p[k] + (u3 - 2 * u2 + u) * m0
               + (-2 * u3 + 3 * u2) * p[k + 1] + (u3 - u2) * m1)
        return quat_normalize(out) if self.property == "rotation_wxyz" else out

    def to_dict(self) -> dict:
        """The JSON form (interpolation always written, so files read the same under any default)."""
        values = list(self.values) if self.property == "visible" else [list(v) for v in self.values]
        return {"property": self.property, "times": list(self.times), "values": values,
                "interpolation": self.interpolation}

    @classmethod
    def from_dict(cls, d) -> "Track":
        """Parse the JSON form; errors name the field relative to the track object."""
        if not isinstance(d, dict):
            raise InputError(f"must be an object, got {type(d).__name__}")
        for key in ("property", "times", "values"):
            if key not in d:
                raise InputError(f"missing {key!r}", field=key, fix="tracks need property, times and values")
        unknown = sorted(set(d) - {"property", "times", "values", "interpolation"})
        if unknown:
            raise InputError(f"unknown key {unknown[0]!r}", field=unknown[0],
                             fix="tracks take property, times, values and interpolation")
        return cls(d["property"], d["times"], d["values"], d.get("interpolation", "LINEAR"))
