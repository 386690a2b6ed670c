"""Mesh files -> `TriMesh`, read through open3d (imported lazily: it takes about a second to import).

What comes through: vertices, triangles, vertex colours and vertex normals when the file has them (normals
are never computed here: without them the renderer shades with face normals), per-corner UVs (v up; glTF's
v-down UVs are flipped by ASSIMP), and the first texture image (float32 [Ht, Wt, 3] in [0, 1], row 0 = the
image file's top row, which is v = 1; open3d hands textures over bottom row first, so they are flipped back).

open3d 0.20 reads OBJ, STL and glTF through ASSIMP without triangulation and silently drops polygon
faces, so an OBJ with quads or n-gons is fan-triangulated into a temporary copy first (geometry from the
copy, texture from the original, whose MTL paths stay valid). open3d's tensor reader, which does
triangulate, crashes the process on files without meshes, so it is not used. open3d reports failures by
printing and returning an empty mesh: its output is captured and the last message becomes part of our
InputError, and on success its warnings are re-issued as Python warnings.
"""

import contextlib
import ctypes
import io
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ngfx.errors import InputError
from ngfx.scenes.mesh import Material, TriMesh

__all__ = ["SUPPORTED_EXTENSIONS", "image_to_float_rgb", "load_mesh"]

SUPPORTED_EXTENSIONS = (".obj", ".ply", ".stl", ".off", ".gltf", ".glb")
_POLYGON_FACE = re.compile(rb"^f[ \t]+\S+[ \t]+\S+[ \t]+\S+[ \t]+[^\s#]", re.MULTILINE)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def load_mesh(path) -> TriMesh:
    """Read a triangle mesh file (see SUPPORTED_EXTENSIONS); InputError naming the file on any problem."""
    path = _check_path(Path(path))
    o3d_mesh, said = _read(path)
    textures = list(o3d_mesh.textures)  # MTL/glTF textures load even when polygon faces were dropped
    if path.suffix.lower() == ".obj" and _POLYGON_FACE.search(path.read_bytes()):
        with tempfile.TemporaryDirectory(prefix="ngfx-obj-") as folder:
            copy = Path(folder) / path.name
            copy.write_text(_fan_triangulated(path.read_text(errors="replace")))
            o3d_mesh, said = _read(copy, shown_as=path)
    if len(o3d_mesh.triangles) == 0:
        raise InputError(_failure(o3d_mesh, said), file=path,
                         fix=f"give a triangle mesh ({', '.join(SUPPORTED_EXTENSIONS)})")
    for line in said:
        warnings.warn(f"{path}: open3d: {line}", stacklevel=2)
    return _to_trimesh(o3d_mesh, textures, path)


def _check_path(path: Path) -> Path:
    """The path if it names a readable file with a supported extension."""
    if path.suffix.lower() not in SUPPORTED_EXTENSIONS:
        raise InputError(f"unsupported mesh format {path.suffix or '(no extension)'!r}", file=path,
                         fix=f"use one of {', '.join(SUPPORTED_EXTENSIONS)}")
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise InputError(f"mesh file {what}", file=path, fix="check the path")
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as e:
        raise InputError(f"cannot read the mesh file: {e.strerror}", file=path) from None
    return path


def _read(path: Path, shown_as: Path | None = None):
    """(open3d TriangleMesh, open3d's messages) for one file; never lets open3d print."""
    import open3d

    with _native_output_captured() as said:
        mesh = open3d.io.read_triangle_mesh(str(path))
    if shown_as is not None:  # messages about the temporary copy should name the user's file
        said[:] = [line.replace(str(path), str(shown_as)) for line in said]
    return mesh, said


def _failure(o3d_mesh, said: list[str]) -> str:
    """One line saying why no triangles came back."""
    if len(o3d_mesh.vertices) > 0:
        return f"has {len(o3d_mesh.vertices)} vertices but no triangles (a point cloud?)"
    reason = said[-1] if said else "no triangles found"
    return f"open3d could not read a triangle mesh from it ({reason})"


@contextlib.contextmanager
def _native_output_captured():
    """Collect everything printed inside the block (by Python or by C/C++ code) as a list of lines.

    open3d's Python module prints its log through Python's sys.stdout, while the libraries under it
    (RPly, ASSIMP) write to the process's file descriptors 1 and 2, so both levels are redirected.
    """
    said: list[str] = []
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    python_text = io.StringIO()
    with tempfile.TemporaryFile() as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            with contextlib.redirect_stdout(python_text), contextlib.redirect_stderr(python_text):
                yield said
        finally:
            ctypes.CDLL(None).fflush(None)  # C stdio buffers must land in the sink, not after restoring
            for fd, copy in ((1, saved[0]), (2, saved[1])):
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            text = sink.read().decode(errors="replace") + python_text.getvalue()
            said.extend(_clean(line) for line in _ANSI.sub("", text).splitlines() if line.strip())


def _clean(line: str) -> str:
    return re.sub(r"^\[Open3D (WARNING|INFO|ERROR|DEBUG)\]\s*", "", line.strip())


def _fan_triangulated(obj_text: str) -> str:
    """OBJ text with every polygon face split into a triangle fan and material libraries dropped.

    Vertex references (v/vt/vn, negative ones too) are kept as written: no vertex lines move.
    """
    out = []
    for line in obj_text.splitlines():
        words = line.split("#", 1)[0].split()
        if words and words[0] == "mtllib":
            continue  # the copy lives elsewhere; textures come from the original file
        if words and words[0] == "f" and len(words) > 4:
            out.extend(f"f {words[1]} {words[k]} {words[k + 1]}" for k in range(2, len(words) - 1))
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def _to_trimesh(o3d_mesh, textures, path: Path) -> TriMesh:
    """Copy open3d's arrays into a validated TriMesh."""
    n_faces = len(o3d_mesh.triangles)
    corner_uvs = None
    if o3d_mesh.has_triangle_uvs() and len(o3d_mesh.triangle_uvs) == 3 * n_faces:
        corner_uvs = np.asarray(o3d_mesh.triangle_uvs).reshape(n_faces, 3, 2)
    images = [a for a in map(np.asarray, textures) if a.ndim >= 2 and a.size > 0]  # open3d pads with empties
    if len(images) > 1:
        warnings.warn(f"{path}: {len(images)} textures; ngfx uses the first", stacklevel=3)
    material = Material()
    if images and corner_uvs is not None:  # open3d flips textures upside down for OpenGL: flip back
        material.texture = image_to_float_rgb(images[0][::-1])
    elif corner_uvs is not None and path.suffix.lower() == ".obj":
        material.texture = _sibling_texture(path)
    return TriMesh(
        vertices=np.asarray(o3d_mesh.vertices),
        faces=np.asarray(o3d_mesh.triangles),
        vertex_colors=np.asarray(o3d_mesh.vertex_colors) if o3d_mesh.has_vertex_colors() else None,
        vertex_normals=np.asarray(o3d_mesh.vertex_normals) if o3d_mesh.has_vertex_normals() else None,
        corner_uvs=corner_uvs,
        material=material,
        source=str(path),
    )


def _sibling_texture(path: Path):
    """For an OBJ with UVs but no material file: `<stem>_texture.png` (or .jpg), or `<first word of the stem>
    _texture.png` beside it (e.g. spot_triangulated.obj -> spot_texture.png), with a warning naming it."""
    import imageio.v3 as iio

    stems = dict.fromkeys([path.stem, path.stem.split("_")[0]])
    for stem in stems:
        for suffix in (".png", ".jpg", ".jpeg"):
            candidate = path.with_name(f"{stem}_texture{suffix}")
            if candidate.is_file():
                warnings.warn(f"{path}: no material file; using the texture {candidate.name} beside it", stacklevel=4)
                return image_to_float_rgb(iio.imread(candidate))
    return None


def image_to_float_rgb(image: np.ndarray) -> np.ndarray:
    """[H, W, 3] float32 in [0, 1] from an 8/16-bit or float image with 1-4 channels (alpha dropped)."""
    if image.ndim == 2:
        image = image[..., None]
    image = image[..., :3]
    if image.shape[-1] < 3:
        image = np.repeat(image[..., :1], 3, axis=-1)
    if np.issubdtype(image.dtype, np.integer):
        return (image / np.iinfo(image.dtype).max).astype(np.float32)
    return np.clip(image, 0, 1).astype(np.float32)
