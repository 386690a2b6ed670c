"""Bake the visible meshes of a scene at one time into one world-space TriMesh, and write mesh files."""

import os
from pathlib import Path

import numpy as np

from ngfx.atomic import check_output_folder
from ngfx.errors import InputError
from ngfx.scenes.mesh import TriMesh

__all__ = ["bake_meshes", "write_mesh", "WRITABLE_SUFFIXES"]

WRITABLE_SUFFIXES = (".ply", ".obj", ".glb", ".gltf", ".stl", ".off")


def bake_meshes(scene, time: float = 0.0) -> TriMesh:
    """Every visible mesh node at `time`, transformed to world space; per-vertex colours from the
    material colour or vertex colours (textures are not baked)."""
    verts, faces, colors, offset = [], [], [], 0
    for _path, node, T_world_node in scene.drawables(time):
        mesh = node.payload
        if not isinstance(mesh, TriMesh):
            continue
        v = mesh.vertices.astype(np.float64) @ T_world_node[:3, :3].T + T_world_node[:3, 3]
        verts.append(v)
        faces.append(mesh.faces + offset)
        c = mesh.vertex_colors if mesh.vertex_colors is not None else np.tile(mesh.material.color, (len(v), 1))
        colors.append(np.asarray(c, dtype=np.float32))
        offset += len(v)
    if not verts:
        raise InputError("the scene has no visible meshes to export", fix="check the nodes' visibility")
    return TriMesh(vertices=np.concatenate(verts), faces=np.concatenate(faces),
                   vertex_colors=np.concatenate(colors), source="baked scene")


def write_mesh(mesh: TriMesh, path) -> None:
    """Write through open3d under a temporary name, then rename (never a half-written file)."""
    import open3d as o3d

    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder", file=path, fix=f"name a mesh file ({' '.join(WRITABLE_SUFFIXES)})")
    if path.suffix.lower() not in WRITABLE_SUFFIXES:
        raise InputError(f"cannot write '{path.suffix}' meshes", file=path, fix=f"use {' '.join(WRITABLE_SUFFIXES)}")
    check_output_folder(path, field="out")
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    o3d_mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(mesh.vertices.astype(np.float64)),
                                         o3d.utility.Vector3iVector(mesh.faces.astype(np.int32)))
    if mesh.vertex_colors is not None:
        o3d_mesh.vertex_colors = o3d.utility.Vector3dVector(mesh.vertex_colors.astype(np.float64))
    o3d_mesh.compute_vertex_normals()
    try:
        if not o3d.io.write_triangle_mesh(str(tmp), o3d_mesh) or not tmp.exists():
            raise InputError("open3d could not write the mesh", file=path, fix="check the folder is writable")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
