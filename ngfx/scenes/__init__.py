"""Scene description: cameras in one convention, the scene graph, scene files and mesh loading.

Importing this package is cheap: open3d (mesh files) and imageio (texture images) load on first use.
"""

from ngfx.scenes.camera import Camera
from ngfx.scenes.graph import (
    DirectionalLight,
    Node,
    Scene,
    Track,
    Transform,
    node_type_names,
    register_node_type,
)
from ngfx.scenes.mesh import Material, TriMesh
from ngfx.scenes.mesh_io import load_mesh
from ngfx.scenes.renderable import Light, Renderable, RenderContext, RenderOutput
from ngfx.scenes.scene_file import load_scene, save_scene

__all__ = [
    "Camera",
    "DirectionalLight",
    "Light",
    "Material",
    "Node",
    "RenderContext",
    "RenderOutput",
    "Renderable",
    "Scene",
    "Track",
    "Transform",
    "TriMesh",
    "load_mesh",
    "load_scene",
    "node_type_names",
    "register_node_type",
    "save_scene",
]
