"""What a SCENE argument can name: 'demo', a scene .json, a folder holding scene.json, or a mesh file."""

from pathlib import Path

from ngfx.errors import InputError
from ngfx.render.gaussian_renderable import is_gaussian_ply

__all__ = ["MESH_SUFFIXES", "load_source", "scene_from_mesh_file", "scene_from_gaussians_file"]

MESH_SUFFIXES = (".obj", ".ply", ".glb", ".gltf", ".stl", ".off")


def scene_from_mesh_file(path: Path):
    """A one-node scene around a mesh file, up +y, on a neutral background. The mesh is read first, so its
    errors name the file as the user typed it."""
    from ngfx.scenes.mesh_io import load_mesh
    from ngfx.scenes.scene_file import scene_from_dict

    mesh = load_mesh(path)
    data = {"nodes": [{"name": path.stem or "mesh", "type": "mesh", "path": str(path.resolve())}],
            "background": [0.1, 0.1, 0.12]}
    scene = scene_from_dict(data, base_dir=str(path.parent), file=str(path))
    scene.roots[0].payload = mesh
    return scene


def scene_from_gaussians_file(path: Path):
    """A one-node scene around a 3DGS / 4D Gaussian PLY. Such models mostly come from COLMAP captures, whose
    world has no up axis; the OpenCV-style -y is the usual one (override with --up). A 4D model's time span
    becomes the scene's duration."""
    from ngfx.splatting.ply import load_gaussians
    from ngfx.scenes.scene_file import scene_from_dict

    model = load_gaussians(path)
    data = {"nodes": [{"name": path.stem or "gaussians", "type": "gaussians", "path": str(path.resolve())}],
            "background": [0.0, 0.0, 0.0], "up": [0.0, -1.0, 0.0]}
    if hasattr(model, "means4"):  # scene time is the model's time; the scene starts at 0
        data["time"] = {"duration_s": max(0.0, float(model.time_range[1]))}
    scene = scene_from_dict(data, base_dir=str(path.parent), file=str(path))
    scene.roots[0].payload = model
    return scene


def load_source(spec: str):
    """Load the Scene a CLI SCENE argument names (payloads loaded, so file errors surface here)."""
    if spec == "demo":
        from ngfx.render.demo_scene import build_demo_scene

        scene = build_demo_scene()
    else:
        scene = _load_path(Path(spec))
    scene.load_payloads()
    return scene


def _load_path(path: Path):
    from ngfx.scenes.scene_file import load_scene

    if not path.exists():
        raise InputError("no such file or folder", file=path, fix="check the path, or use 'demo'")
    if path.is_dir():
        if (path / "scene.json").is_file():
            return load_scene(path / "scene.json")
        raise InputError("folder has no scene.json", file=path, fix="name a scene .json or a mesh file")
    suffix = path.suffix.lower()
    if suffix == ".json":
        return load_scene(path)
    if suffix == ".ply" and is_gaussian_ply(path):
        return scene_from_gaussians_file(path)
    if suffix in MESH_SUFFIXES:
        return scene_from_mesh_file(path)
    raise InputError(f"unsupported scene format '{suffix}'", file=path,
                     fix=f"give a scene .json or a mesh ({' '.join(MESH_SUFFIXES)}), or 'demo'")
