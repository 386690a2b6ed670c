"""Procedural meshes and textures, so that demo scenes need no data files.

Every mesh is a `TriMesh` with unit vertex normals and corner UVs in [0, 1]; triangles are
counter-clockwise seen from outside (outward normals). The world is Y-up: spheres, tori and cylinders
have their axis along +Y, and `plane` is a ground in the XZ plane facing +Y (v grows towards -Z, so a
texture reads upright from above with -Z at the top). Curved surfaces duplicate the vertices along their
UV seams; the duplicates share positions, so the surfaces are still closed.

Textures are float32 [size, size, 3] arrays in [0, 1] with row 0 at the top (v = 1), as `Material` wants.
"""

import inspect
import math

import numpy as np

from ngfx.errors import InputError
from ngfx.scenes.mesh import TriMesh
from ngfx.scenes.validate import finite_vector, is_number

__all__ = [
    "PRIMITIVES",
    "PROCEDURAL_TEXTURES",
    "box",
    "checker_texture",
    "cylinder",
    "gradient_texture",
    "make_primitive",
    "make_texture",
    "plane",
    "stripes_texture",
    "torus",
    "uv_sphere",
]

_LIGHT, _DARK = (0.85, 0.85, 0.85), (0.25, 0.25, 0.25)


def _check(name: str, value, *, integer=False, minimum=0.0):
    """InputError naming the parameter unless value is a number (an integer if asked) above `minimum`."""
    if not is_number(value) or (integer and not isinstance(value, (int, np.integer))) or value <= minimum:
        need = "an integer" if integer else "a number"
        raise InputError(f"must be {need} greater than {minimum:g}, got {value!r}", field=name)


def _grid_faces(n_i: int, n_j: int) -> np.ndarray:
    """Two triangles per cell of an (n_i+1) x (n_j+1) vertex grid, CCW when d/di x d/dj points outward."""
    i, j = np.meshgrid(np.arange(n_i), np.arange(n_j), indexing="ij")
    a = (i * (n_j + 1) + j).ravel()
    b, c, d = a + n_j + 1, a + n_j + 2, a + 1
    return np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])


def _mesh(vertices, normals, uvs, faces, source: str) -> TriMesh:
    """A TriMesh with per-vertex normals, and corner UVs gathered from per-vertex UVs."""
    faces = np.asarray(faces)
    return TriMesh(vertices=vertices, faces=faces, vertex_normals=normals, corner_uvs=np.asarray(uvs)[faces],
                   source=source)


def uv_sphere(radius: float = 1.0, segments: int = 32, rings: int = 16) -> TriMesh:
    """A latitude-longitude sphere about the origin; u runs around +Y, v from the south (0) to north pole (1)."""
    _check("radius", radius)
    _check("segments", segments, integer=True, minimum=2)
    _check("rings", rings, integer=True, minimum=1)
    theta, phi = np.meshgrid(np.linspace(0, math.pi, rings + 1), np.linspace(0, 2 * math.pi, segments + 1),
                             indexing="ij")
    normals = np.stack([np.sin(theta) * np.cos(phi), np.cos(theta), -np.sin(theta) * np.sin(phi)], -1)
    uvs = np.stack([phi / (2 * math.pi), 1 - theta / math.pi], -1).reshape(-1, 2)
    faces = _grid_faces(rings, segments)
    n_cells = rings * segments
    row = np.tile(np.repeat(np.arange(rings), segments), 2)
    first = np.arange(2 * n_cells) < n_cells
    keep = ~((row == 0) & ~first) & ~((row == rings - 1) & first)  # drop the zero-area triangles at the poles
    normals = normals.reshape(-1, 3)
    return _mesh(radius * normals, normals, uvs, faces[keep], "uv_sphere")


def torus(major_radius: float = 1.0, minor_radius: float = 0.25, major_segments: int = 48,
          minor_segments: int = 16) -> TriMesh:
    """A ring around +Y in the XZ plane: tube centre at distance major_radius, tube radius minor_radius."""
    _check("major_radius", major_radius)
    _check("minor_radius", minor_radius)
    _check("major_segments", major_segments, integer=True, minimum=2)
    _check("minor_segments", minor_segments, integer=True, minimum=2)
    phi, theta = np.meshgrid(np.linspace(0, 2 * math.pi, major_segments + 1),
                             np.linspace(0, 2 * math.pi, minor_segments + 1), indexing="ij")
    normals = np.stack([np.cos(theta) * np.cos(phi), np.sin(theta), -np.cos(theta) * np.sin(phi)], -1)
    centres = major_radius * np.stack([np.cos(phi), np.zeros_like(phi), -np.sin(phi)], -1)
    vertices = centres + minor_radius * normals
    uvs = np.stack([phi / (2 * math.pi), theta / (2 * math.pi)], -1).reshape(-1, 2)
    return _mesh(vertices.reshape(-1, 3), normals.reshape(-1, 3), uvs,
                 _grid_faces(major_segments, minor_segments), "torus")


def cylinder(radius: float = 0.5, height: float = 1.0, segments: int = 32, caps: bool = True) -> TriMesh:
    """An upright cylinder centred on the origin, axis +Y; `caps` closes it with flat discs."""
    _check("radius", radius)
    _check("height", height)
    _check("segments", segments, integer=True, minimum=2)
    phi = np.linspace(0, 2 * math.pi, segments + 1)
    ring = np.stack([np.cos(phi), np.zeros_like(phi), -np.sin(phi)], -1)
    h = 0.5 * height
    vertices = [radius * ring + [0, h, 0], radius * ring - [0, h, 0]]
    normals = [ring, ring]
    uvs = [np.stack([phi / (2 * math.pi), np.ones_like(phi)], -1), np.stack([phi / (2 * math.pi), 0 * phi], -1)]
    faces = [_grid_faces(1, segments)]
    if caps:
        cap_uv = np.stack([0.5 + 0.5 * ring[:, 0], 0.5 - 0.5 * ring[:, 2]], -1)
        for sign in (1.0, -1.0):
            start = sum(len(v) for v in vertices)
            vertices.append(np.vstack([[0, sign * h, 0], radius * ring + [0, sign * h, 0]]))
            normals.append(np.tile([0.0, sign, 0.0], (segments + 2, 1)))
            uvs.append(np.vstack([[0.5, 0.5], cap_uv]))
            spokes = start + 1 + np.arange(segments)
            tri = [np.full(segments, start), spokes, spokes + 1]
            faces.append(np.stack(tri if sign > 0 else [tri[0], tri[2], tri[1]], 1))
    return _mesh(np.vstack(vertices), np.vstack(normals), np.vstack(uvs), np.vstack(faces), "cylinder")


def box(size=(1.0, 1.0, 1.0)) -> TriMesh:
    """An axis-aligned box centred on the origin with flat faces, each face UV-mapped to the unit square."""
    if isinstance(size, (int, float)):
        size = (size, size, size)
    for k, value in enumerate(size if isinstance(size, (list, tuple)) and len(size) == 3 else [None]):
        _check(f"size[{k}]", value)
    half = 0.5 * np.asarray(size, dtype=np.float64)
    eye = np.eye(3)
    sides = [(eye[0], -eye[2]), (-eye[0], eye[2]), (eye[1], eye[0]), (-eye[1], eye[0]), (eye[2], eye[0]),
             (-eye[2], -eye[0])]  # (normal, u axis); v = normal x u, so u x v = normal (CCW from outside)
    corners_uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64)
    vertices, normals, uvs, faces = [], [], [], []
    for k, (n, u) in enumerate(sides):
        v = np.cross(n, u)
        for cu, cv in corners_uv:
            vertices.append(half * (n + (2 * cu - 1) * u + (2 * cv - 1) * v))
        normals += [n] * 4
        uvs.append(corners_uv)
        faces += [[4 * k, 4 * k + 1, 4 * k + 2], [4 * k, 4 * k + 2, 4 * k + 3]]
    return _mesh(np.array(vertices), np.array(normals), np.vstack(uvs), faces, "box")


def plane(size=(10.0, 10.0), subdivisions: int = 1) -> TriMesh:
    """A ground rectangle (x extent, z extent) at y = 0 facing +Y, split into subdivisions^2 cells."""
    if isinstance(size, (int, float)):
        size = (size, size)
    for k, value in enumerate(size if isinstance(size, (list, tuple)) and len(size) == 2 else [None]):
        _check(f"size[{k}]", value)
    _check("subdivisions", subdivisions, integer=True)
    n = subdivisions
    z, x = np.meshgrid(np.linspace(-0.5, 0.5, n + 1) * size[1], np.linspace(-0.5, 0.5, n + 1) * size[0],
                       indexing="ij")
    vertices = np.stack([x, np.zeros_like(x), z], -1).reshape(-1, 3)
    uvs = np.stack([x / size[0] + 0.5, 0.5 - z / size[1]], -1).reshape(-1, 2)
    normals = np.tile([0.0, 1.0, 0.0], (len(vertices), 1))
    return _mesh(vertices, normals, uvs, _grid_faces(n, n), "plane")


PRIMITIVES = {"sphere": uv_sphere, "box": box, "torus": torus, "plane": plane, "cylinder": cylinder}


def _call(table: dict, kind: str, params: dict, what: str, key: str):
    """table[kind](**params), with InputErrors naming the bad kind or parameter."""
    if kind not in table:
        raise InputError(f"unknown {what} {kind!r}", field=key, fix=f"use one of {', '.join(sorted(table))}")
    accepted = list(inspect.signature(table[kind]).parameters)
    unknown = [name for name in params if name not in accepted]
    if unknown:
        raise InputError(f"{what} {kind!r} has no parameter {unknown[0]!r}", field=unknown[0],
                         fix=f"it takes {', '.join(accepted)}")
    return table[kind](**params)


def make_primitive(spec: dict) -> TriMesh:
    """A mesh from its JSON form {"shape": name, **parameters of that shape's function}."""
    if not isinstance(spec, dict) or "shape" not in spec:
        raise InputError("must be an object with a 'shape'", fix=f"use one of {', '.join(sorted(PRIMITIVES))}")
    params = {k: v for k, v in spec.items() if k != "shape"}
    return _call(PRIMITIVES, spec["shape"], params, "shape", "shape")


def _colors(colors, count: int) -> np.ndarray:
    """[count, 3] float array of RGB colours in [0, 1], or InputError on field 'colors'."""
    if not isinstance(colors, (list, tuple)) or len(colors) != count:
        raise InputError(f"must be a list of {count} RGB colours, got {colors!r}", field="colors")
    return np.array([finite_vector(c, 3, f"colors[{k}]", low=0.0, high=1.0) for k, c in enumerate(colors)])


def checker_texture(squares: int = 8, colors=(_LIGHT, _DARK), size: int = 256) -> np.ndarray:
    """A squares x squares checkerboard; the top-left square has colors[0]."""
    _check("squares", squares, integer=True)
    _check("size", size, integer=True)
    cells = np.arange(size) * squares // size
    parity = (cells[:, None] + cells[None, :]) % 2
    return _colors(colors, 2)[parity].astype(np.float32)


def stripes_texture(stripes: int = 8, colors=(_LIGHT, _DARK), size: int = 256, vertical: bool = True) -> np.ndarray:
    """Alternating stripes, vertical (varying along u) or horizontal (varying along v)."""
    _check("stripes", stripes, integer=True)
    _check("size", size, integer=True)
    band = (np.arange(size) * stripes // size) % 2
    parity = np.broadcast_to(band[None, :] if vertical else band[:, None], (size, size))
    return _colors(colors, 2)[parity].astype(np.float32)


def gradient_texture(colors=(_LIGHT, _DARK), size: int = 256) -> np.ndarray:
    """A vertical linear gradient from colors[0] at the top (v = 1) to colors[1] at the bottom."""
    _check("size", size, integer=True)
    top, bottom = _colors(colors, 2)
    w = np.linspace(0, 1, size)[:, None, None]
    return np.broadcast_to((1 - w) * top + w * bottom, (size, size, 3)).astype(np.float32)


PROCEDURAL_TEXTURES = {"checker": checker_texture, "stripes": stripes_texture, "gradient": gradient_texture}


def make_texture(spec: dict) -> np.ndarray:
    """A texture from its JSON form {"procedural": name, **parameters of that texture's function}."""
    if not isinstance(spec, dict) or "procedural" not in spec:
        raise InputError("must be an object with a 'procedural' name, or an image path",
                         fix=f"use one of {', '.join(sorted(PROCEDURAL_TEXTURES))}")
    params = {k: v for k, v in spec.items() if k != "procedural"}
    return _call(PROCEDURAL_TEXTURES, spec["procedural"], params, "texture", "procedural")
