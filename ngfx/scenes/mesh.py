"""Triangle meshes as loaded from files or generated: plain arrays, validated once at construction.

Conventions: vertices in the mesh's local frame (scene units); faces index vertices, counter-clockwise
seen from the front (outward normals); `corner_uvs` hold one UV per face corner (as OBJ and glTF store
them), with v pointing up: (0, 0) is the bottom-left of the texture image, whose row 0 is its top.
"""

import dataclasses

import numpy as np

from ngfx.errors import InputError

__all__ = ["Material", "TriMesh"]


@dataclasses.dataclass(eq=False)
class Material:
    """Albedo from (in order of precedence) a texture, per-vertex colours, or `color`; all in [0, 1]."""

    color: tuple[float, float, float] = (0.8, 0.8, 0.8)
    texture: np.ndarray | None = None  # [Ht, Wt, 3] float32, row 0 = top of the image (v = 1)


@dataclasses.dataclass(eq=False)
class TriMesh:
    vertices: np.ndarray  # [V, 3] float32
    faces: np.ndarray  # [F, 3] int32
    vertex_colors: np.ndarray | None = None  # [V, 3] float32 in [0, 1]
    vertex_normals: np.ndarray | None = None  # [V, 3] float32, unit
    corner_uvs: np.ndarray | None = None  # [F, 3, 2] float32
    material: Material = dataclasses.field(default_factory=Material)
    source: str = ""  # file or generator name, for error messages

    def __post_init__(self):
        self.vertices = np.ascontiguousarray(self.vertices, dtype=np.float32).reshape(-1, 3)
        self.faces = np.ascontiguousarray(self.faces, dtype=np.int32).reshape(-1, 3)
        for name in ("vertex_colors", "vertex_normals", "corner_uvs"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, np.ascontiguousarray(value, dtype=np.float32))
        self.validate()

    def validate(self):
        """Raise InputError naming the mesh for empty, non-finite or inconsistent data."""
        where = self.source or "mesh"
        if len(self.vertices) == 0 or len(self.faces) == 0:
            raise InputError(f"mesh has {len(self.vertices)} vertices and {len(self.faces)} triangles",
                             file=where, fix="give a file with at least one triangle")
        bad = ~np.isfinite(self.vertices).all(axis=1)
        if bad.any():
            raise InputError(f"{int(bad.sum())} vertices are NaN or infinite (first: vertex {int(bad.argmax())})",
                             file=where, field="vertices", fix="repair or re-export the mesh")
        if self.faces.min() < 0 or self.faces.max() >= len(self.vertices):
            raise InputError(f"triangle indices reach {int(self.faces.max())} but there are "
                             f"{len(self.vertices)} vertices", file=where, field="faces")
        n_v, n_f = len(self.vertices), len(self.faces)
        expect = {"vertex_colors": (n_v, 3), "vertex_normals": (n_v, 3), "corner_uvs": (n_f, 3, 2)}
        for name, shape in expect.items():
            value = getattr(self, name)
            if value is not None and value.shape != shape:
                raise InputError(f"{name} has shape {value.shape}, expected {shape}", file=where, field=name)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.vertices.min(axis=0).astype(np.float64), self.vertices.max(axis=0).astype(np.float64)
