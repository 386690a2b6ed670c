"""Which capture format a path holds, and `load_capture`, which hands it to that format's loader.

A folder is recognised by its marker files, first match wins (so a nerfstudio folder that also keeps its
COLMAP model loads as "transforms", and an LLFF folder that also keeps sparse/ loads as "colmap", which
brings the point cloud):

    transforms_train.json           -> "blender", or "dnerf" when its frames carry "time"
    transforms.json                 -> "transforms" (instant-ngp / nerfstudio)
    train_meta.json                 -> "panoptic" (CMU Panoptic, Dynamic 3D Gaussians layout)
    sparse/, cameras.bin|.txt       -> "colmap" (also sparse/0/; a model folder loads from its scene root)
    poses_bounds.npy                -> "llff"

A single file is inspected instead: a JSON with "frames" is "transforms" (or "blender"/"dnerf" when it is a
transforms_<split>.json beside transforms_train.json), a JSON with "w2c" and "fn" is "panoptic",
poses_bounds.npy is "llff" and a COLMAP cameras/images/points3D file is "colmap". Loaders are imported only
when used, so this module imports before (and without) them.
"""

import importlib
from pathlib import Path

from ngfx.errors import InputError
from ngfx.scenes.captures.capture import Capture, LoadOptions, read_json_object

__all__ = ["FORMATS", "detect_format", "load_capture"]

# format -> (module, function); every function is f(path, options) -> Capture
_LOADERS = {
    "transforms": ("ngfx.scenes.captures.nerf_json", "load_transforms"),
    "blender": ("ngfx.scenes.captures.nerf_json", "load_blender"),
    "dnerf": ("ngfx.scenes.captures.nerf_json", "load_blender"),
    "colmap": ("ngfx.scenes.captures.colmap", "load_colmap"),
    "llff": ("ngfx.scenes.captures.llff", "load_llff"),
    "panoptic": ("ngfx.scenes.captures.panoptic", "load_panoptic"),
}
FORMATS = tuple(_LOADERS)
_COLMAP_FILES = tuple(f"{stem}.{ext}" for stem in ("cameras", "images", "points3D") for ext in ("bin", "txt"))
_LOOKED_FOR = ("transforms_train.json (blender, dnerf), transforms.json (transforms), "
               "train_meta.json (panoptic), sparse/ or cameras.bin/.txt (colmap), poses_bounds.npy (llff)")
_FIX = f"point at a capture folder or file; supported formats: {', '.join(FORMATS)}"


def detect_format(path: Path) -> str:
    """The format name (one of FORMATS) of a capture folder or file; InputError when none fits."""
    return _detect(Path(path))[0]


def load_capture(path: Path, options: LoadOptions | None = None) -> Capture:
    """Detect the format of `path` and load it with that format's loader (pixels are not read)."""
    fmt, target = _detect(Path(path))
    module_name, function_name = _LOADERS[fmt]
    loader = getattr(importlib.import_module(module_name), function_name)
    return loader(target, options or LoadOptions())


def _detect(path: Path) -> tuple[str, Path]:
    """(format, the path its loader takes)."""
    if not path.exists():
        raise InputError("capture path does not exist", file=path, fix="check the path")
    if path.is_file():
        return _detect_file(path)
    if (path / "transforms_train.json").is_file():
        return _blender_or_dnerf(path / "transforms_train.json"), path
    if (path / "transforms.json").is_file():
        return "transforms", path / "transforms.json"
    if (path / "train_meta.json").is_file():
        return "panoptic", path
    if _has_colmap_model(path) or ((path / "sparse").is_dir() and not (path / "poses_bounds.npy").is_file()):
        return "colmap", _colmap_root(path)
    if (path / "poses_bounds.npy").is_file():
        return "llff", path
    raise InputError(f"no known capture format here (looked for {_LOOKED_FOR})", file=path, fix=_FIX)


def _detect_file(path: Path) -> tuple[str, Path]:
    name = path.name
    if name == "poses_bounds.npy":
        return "llff", path.parent
    if name in _COLMAP_FILES:
        return "colmap", _colmap_root(path.parent)
    if path.suffix.lower() != ".json":
        raise InputError("not a capture file (expected a .json, poses_bounds.npy or a COLMAP model file)",
                         file=path, fix=_FIX)
    meta = read_json_object(path)
    if "w2c" in meta and "fn" in meta:
        return "panoptic", path.parent
    if isinstance(meta.get("frames"), list):
        if name.startswith("transforms_") and (path.parent / "transforms_train.json").is_file():
            return _blender_or_dnerf(path.parent / "transforms_train.json"), path.parent
        return "transforms", path
    raise InputError("JSON file is neither a transforms file ('frames') nor a Panoptic meta file "
                     "('w2c', 'fn')", file=path, fix=_FIX)


def _blender_or_dnerf(train_json: Path) -> str:
    """"dnerf" when any frame of transforms_train.json has a "time", else "blender"."""
    frames = read_json_object(train_json).get("frames")
    dynamic = isinstance(frames, list) and any(isinstance(f, dict) and "time" in f for f in frames)
    return "dnerf" if dynamic else "blender"


def _has_colmap_model(folder: Path) -> bool:
    return any((folder / sub / f"cameras.{ext}").is_file()
               for sub in ("", "sparse", "sparse/0") for ext in ("bin", "txt"))


def _colmap_root(folder: Path) -> Path:
    """The scene folder (holding images/) for a model folder given as <scene>/sparse or <scene>/sparse/<n>."""
    if folder.name.isdigit() and folder.parent.name == "sparse":
        return folder.parent.parent
    if folder.name == "sparse":
        return folder.parent
    return folder
