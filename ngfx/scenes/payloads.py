"""Payload loaders for the built-in node types "mesh", "light" and "group" (registered in `nodes`).

A loader is `loader(node, base_dir) -> payload`: it reads the node's `params` (the node's JSON keys
other than name/type/transform/children/visible/tracks) and raises InputError with `field` relative to
the node (e.g. "material.color"); the node adds the scene file and the node's own place in it.

mesh  : {"path": "spot.obj"} or {"primitive": {"shape": "torus", ...}}, optionally
        "material": {"color": [r, g, b], "texture": "image.png" | {"procedural": "checker", ...}}.
        A material in the node overrides the file's colours (a "color" alone drops the file's texture and
        vertex colours). Relative paths are relative to the scene file's folder.
light : {"direction": [x, y, z] (where the light travels, node frame), "color": [r, g, b] (linear),
        "intensity": 1}; the payload's colour is color * intensity.
group : no payload.
"""

import dataclasses
from pathlib import Path

import numpy as np

from ngfx.errors import InputError
from ngfx.scenes.mesh import TriMesh
from ngfx.scenes.mesh_io import image_to_float_rgb, load_mesh
from ngfx.scenes.primitives import make_primitive, make_texture
from ngfx.scenes.validate import field_prefix, finite_vector

__all__ = ["DirectionalLight", "load_group_node", "load_light_node", "load_mesh_node"]


@dataclasses.dataclass(frozen=True)
class DirectionalLight:
    """A light at infinity: `direction` (unit) is where its light travels, in the light node's frame."""

    direction: tuple[float, float, float] = (0.0, -1.0, 0.0)
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)  # linear RGB radiance, intensity folded in

    def direction_in(self, T_frame_node) -> np.ndarray:
        """The unit travel direction in another frame, given `T_frame_node` (scale is divided out)."""
        d = np.asarray(T_frame_node, dtype=np.float64)[:3, :3] @ np.asarray(self.direction)
        return d / np.linalg.norm(d)


def _resolve(path, base_dir, field: str) -> Path:
    if not isinstance(path, str) or not path:
        raise InputError(f"must be a file path, got {path!r}", field=field)
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(base_dir or ".") / p


def load_group_node(node, base_dir) -> None:
    """Groups only hold children."""


def load_light_node(node, base_dir) -> DirectionalLight:
    """A DirectionalLight from the node's direction / color / intensity params."""
    params = node.params
    direction = np.array(finite_vector(params.get("direction", [0.0, -1.0, 0.0]), 3, "direction"))
    if np.linalg.norm(direction) == 0:
        raise InputError("must not be zero", field="direction", fix="give where the light travels, e.g. [0, -1, 0]")
    color = finite_vector(params.get("color", [1.0, 1.0, 1.0]), 3, "color", low=0.0)
    (intensity,) = finite_vector([params.get("intensity", 1.0)], 1, "intensity", low=0.0)
    unit = direction / np.linalg.norm(direction)
    return DirectionalLight(tuple(float(v) for v in unit), tuple(c * intensity for c in color))


def load_mesh_node(node, base_dir) -> TriMesh:
    """A TriMesh from the node's "path" or "primitive", with its "material" applied."""
    params = node.params
    if ("path" in params) == ("primitive" in params):
        raise InputError("a mesh node needs exactly one of 'path' and 'primitive'", field="path",
                         fix='e.g. "path": "spot.obj" or "primitive": {"shape": "sphere"}')
    if "path" in params:
        mesh = load_mesh(_resolve(params["path"], base_dir, "path"))
    else:
        with field_prefix("primitive"):
            mesh = make_primitive(params["primitive"])
    if "material" in params:
        _apply_material(mesh, params["material"], base_dir)
    return mesh


def _apply_material(mesh: TriMesh, material, base_dir) -> None:
    """Override the mesh's albedo with the node's material (see the module docstring)."""
    if not isinstance(material, dict):
        raise InputError(f"must be an object, got {material!r}", field="material")
    unknown = sorted(set(material) - {"color", "texture"})
    if unknown:
        raise InputError(f"unknown key {unknown[0]!r}", field=f"material.{unknown[0]}", fix="use color, texture")
    if "color" in material:
        mesh.material.color = finite_vector(material["color"], 3, "material.color", low=0.0, high=1.0)
        mesh.material.texture, mesh.vertex_colors = None, None
    if "texture" in material:
        if mesh.corner_uvs is None:
            raise InputError(f"{mesh.source} has no UVs, so it cannot take a texture", field="material.texture",
                             fix="drop the texture or use a mesh with UVs")
        spec = material["texture"]
        if isinstance(spec, str):
            mesh.material.texture = _read_image(_resolve(spec, base_dir, "material.texture"))
        else:
            with field_prefix("material.texture"):
                mesh.material.texture = make_texture(spec)


def _read_image(path: Path) -> np.ndarray:
    """An image file as float32 [H, W, 3] in [0, 1], row 0 at the top."""
    import imageio.v3 as iio

    if not path.is_file():
        raise InputError("texture image does not exist", file=path, field="material.texture", fix="check the path")
    try:
        image = iio.imread(path)
    except Exception as e:  # noqa: BLE001 - imageio's plugins raise many types for unreadable images
        raise InputError(f"cannot read the texture image ({e})", file=path, field="material.texture") from None
    return image_to_float_rgb(np.asarray(image))
