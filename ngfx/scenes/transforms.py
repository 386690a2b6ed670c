"""Rigid-body maths for the scene graph: quaternions (wxyz), TRS <-> 4x4 matrices, and `Transform`.

Conventions: Hamilton quaternions stored (w, x, y, z), rotating column vectors (`R @ p`); a 4x4
`T_parent_node` maps node coordinates into its parent's as `T @ [p, 1]`, and a TRS matrix applies scale,
then rotation, then translation (M = T R S, as glTF). Everything is float64 numpy.
"""

import dataclasses
import functools
import math

import numpy as np

from ngfx.errors import InputError
from ngfx.scenes.validate import finite_vector

__all__ = [
    "Transform",
    "matrix_to_trs",
    "quat_from_axis_angle",
    "quat_from_matrix",
    "quat_multiply",
    "quat_normalize",
    "quat_slerp",
    "quat_to_matrix",
    "transform_bounds",
    "transform_points",
    "trs_to_matrix",
]


def quat_normalize(q) -> np.ndarray:
    """Unit quaternion(s) along the last axis; raises ValueError on a zero quaternion."""
    q = np.asarray(q, dtype=np.float64)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(norm == 0):
        raise ValueError("cannot normalize a zero quaternion")
    return q / norm


def quat_to_matrix(q) -> np.ndarray:
    """3x3 rotation matrix (or [..., 3, 3]) of wxyz quaternion(s); the input is normalized first."""
    w, x, y, z = np.moveaxis(quat_normalize(q), -1, 0)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(row, axis=-1) for row in rows], axis=-2)


def quat_from_matrix(R) -> np.ndarray:
    """wxyz unit quaternion of a 3x3 rotation matrix, with w >= 0 (Shepperd's numerically stable branches)."""
    R = np.asarray(R, dtype=np.float64)
    trace = R[0, 0] + R[1, 1] + R[2, 2]
    if trace > 0:
        s = 2.0 * math.sqrt(1.0 + trace)
        q = [0.25 * s, (R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s]
    elif R[0, 0] >= R[1, 1] and R[0, 0] >= R[2, 2]:
        s = 2.0 * math.sqrt(max(1.0 + R[0, 0] - R[1, 1] - R[2, 2], 0.0))
        q = [(R[2, 1] - R[1, 2]) / s, 0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s]
    elif R[1, 1] >= R[2, 2]:
        s = 2.0 * math.sqrt(max(1.0 + R[1, 1] - R[0, 0] - R[2, 2], 0.0))
        q = [(R[0, 2] - R[2, 0]) / s, (R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s]
    else:
        s = 2.0 * math.sqrt(max(1.0 + R[2, 2] - R[0, 0] - R[1, 1], 0.0))
        q = [(R[1, 0] - R[0, 1]) / s, (R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s]
    q = quat_normalize(q)
    return -q if q[0] < 0 else q


def quat_multiply(a, b) -> np.ndarray:
    """Hamilton product a * b (apply b, then a), broadcasting over leading axes."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def quat_slerp(a, b, u: float) -> np.ndarray:
    """Spherical interpolation from a (u=0) to b (u=1) along the shortest arc; returns a unit quaternion."""
    a, b = quat_normalize(a), quat_normalize(b)
    dot = float(np.dot(a, b))
    if dot < 0:  # q and -q are the same rotation: flip one to take the short way round
        b, dot = -b, -dot
    if dot > 0.9995:  # nearly parallel: sin(theta) ~ 0, lerp is exact to float precision
        return quat_normalize(a + u * (b - a))
    theta = math.acos(dot)
    return (math.sin((1 - u) * theta) * a + math.sin(u * theta) * b) / math.sin(theta)


def quat_from_axis_angle(axis, angle_rad: float) -> np.ndarray:
    """wxyz quaternion rotating by `angle_rad` (right-handed) about `axis` (any non-zero length)."""
    axis = np.asarray(axis, dtype=np.float64)
    norm = np.linalg.norm(axis)
    if norm == 0:
        raise ValueError("rotation axis is zero")
    half = 0.5 * angle_rad
    return np.concatenate([[math.cos(half)], math.sin(half) * axis / norm])


def trs_to_matrix(translation=(0, 0, 0), rotation_wxyz=(1, 0, 0, 0), scale=(1, 1, 1)) -> np.ndarray:
    """4x4 matrix T R S: scale, then rotate, then translate."""
    M = np.eye(4)
    M[:3, :3] = quat_to_matrix(rotation_wxyz) * np.asarray(scale, dtype=np.float64)[None, :]
    M[:3, 3] = translation
    return M


def matrix_to_trs(M) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(translation, rotation_wxyz, scale) of a 4x4 affine matrix without shear.

    A mirroring matrix (negative determinant) comes back with a negative x scale. Raises ValueError
    when an axis has zero scale (no rotation can be recovered).
    """
    M = np.asarray(M, dtype=np.float64)
    A = M[:3, :3]
    scale = np.linalg.norm(A, axis=0)
    if np.any(scale == 0):
        raise ValueError("matrix has a zero scale axis")
    if np.linalg.det(A) < 0:
        scale[0] = -scale[0]
    return M[:3, 3].copy(), quat_from_matrix(A / scale[None, :]), scale


def transform_points(T, points) -> np.ndarray:
    """Apply a 4x4 affine `T_a_b` to [..., 3] points in frame b; returns them in frame a."""
    T = np.asarray(T, dtype=np.float64)
    return np.asarray(points, dtype=np.float64) @ T[:3, :3].T + T[:3, 3]


def transform_bounds(T, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned bounds, in frame a, of the box [lo, hi] given in frame b (all 8 corners transformed)."""
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    corners = np.array([[(lo, hi)[(k >> axis) & 1][axis] for axis in range(3)] for k in range(8)])
    moved = transform_points(T, corners)
    return moved.min(axis=0), moved.max(axis=0)


@dataclasses.dataclass(frozen=True)
class Transform:
    """A node's local transform `T_parent_node`, as TRS components or one explicit 4x4 `matrix`.

    Only the components that were given are stored (None = not given: identity for that part), so a
    scene file writes back exactly the form it read. Immutable: make a new one to edit a node.
    """

    translation: tuple[float, float, float] | None = None
    rotation_wxyz: tuple[float, float, float, float] | None = None
    scale: tuple[float, float, float] | None = None
    matrix: tuple[tuple[float, ...], ...] | None = None  # 4x4, row-major rows; excludes the TRS fields

    def __post_init__(self):
        for name, length in (("translation", 3), ("rotation_wxyz", 4), ("scale", 3)):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, finite_vector(getattr(self, name), length, name))
        if self.rotation_wxyz is not None and not any(self.rotation_wxyz):
            raise InputError("is the zero quaternion", field="rotation_wxyz", fix="use [1, 0, 0, 0] for none")
        if self.matrix is not None:
            self._check_matrix()

    def _check_matrix(self):
        if any(getattr(self, name) is not None for name in ("translation", "rotation_wxyz", "scale")):
            raise InputError("give either a matrix or translation/rotation_wxyz/scale, not both", field="matrix")
        rows = self.matrix
        if not isinstance(rows, (list, tuple, np.ndarray)) or len(rows) != 4:
            raise InputError(f"must be 4 rows of 4 numbers, got {rows!r}", field="matrix")
        rows = tuple(finite_vector(row, 4, f"matrix[{i}]") for i, row in enumerate(rows))
        if rows[3] != (0.0, 0.0, 0.0, 1.0):
            raise InputError(f"last row must be [0, 0, 0, 1], got {list(rows[3])}", field="matrix[3]")
        object.__setattr__(self, "matrix", rows)

    @classmethod
    def from_matrix(cls, M) -> "Transform":
        """A matrix-form transform from a 4x4 array."""
        return cls(matrix=tuple(tuple(float(v) for v in row) for row in np.asarray(M, dtype=np.float64)))

    @functools.cached_property
    def _matrix(self) -> np.ndarray:
        if self.matrix is not None:
            M = np.array(self.matrix, dtype=np.float64)
        else:
            M = trs_to_matrix(*self.trs())
        M.flags.writeable = False
        return M

    def to_matrix(self) -> np.ndarray:
        """The 4x4 `T_parent_node` (a fresh, writable copy)."""
        return self._matrix.copy()

    def trs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(translation, rotation_wxyz, scale), defaults filled in; a matrix is decomposed (no shear assumed)."""
        if self.matrix is not None:
            return matrix_to_trs(np.array(self.matrix))
        t = self.translation if self.translation is not None else (0.0, 0.0, 0.0)
        q = self.rotation_wxyz if self.rotation_wxyz is not None else (1.0, 0.0, 0.0, 0.0)
        s = self.scale if self.scale is not None else (1.0, 1.0, 1.0)
        return np.array(t), quat_normalize(q), np.array(s)

    def to_dict(self) -> dict:
        """The JSON form: only the components that were given (an empty dict is the identity)."""
        names = ("translation", "rotation_wxyz", "scale", "matrix")
        return {n: [list(r) for r in v] if n == "matrix" else list(v)
                for n in names if (v := getattr(self, n)) is not None}

    @classmethod
    def from_dict(cls, d) -> "Transform":
        """Parse the JSON form; errors name the field relative to the transform object."""
        if not isinstance(d, dict):
            raise InputError(f"must be an object, got {type(d).__name__}")
        unknown = sorted(set(d) - {"translation", "rotation_wxyz", "scale", "matrix"})
        if unknown:
            raise InputError(f"unknown key {unknown[0]!r}", field=unknown[0],
                             fix="use translation, rotation_wxyz (w first), scale, or matrix")
        return cls(**d)
