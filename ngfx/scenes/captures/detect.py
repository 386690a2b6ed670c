"""Which capture format a path holds, and `load_capture`, which hands it to that format's loader.

A folder is recognised by its marker files. Every format whose marker is present is a candidate, in this
order of preference (so a nerfstudio folder that also keeps its COLMAP model loads as "transforms", and an
LLFF folder that also keeps a COLMAP model loads as "colmap", which brings the point cloud):

    transforms_train.json           -> "blender", or "dnerf" when its frames carry "time"
    transforms.json                 -> "transforms" (instant-ngp / nerfstudio)
    train_meta.json                 -> "panoptic" (CMU Panoptic, Dynamic 3D Gaussians layout)
    sparse/, cameras.bin|.txt       -> "colmap" (also sparse/0/; a model folder loads from its scene root)
    poses_bounds.npy                -> "llff"

The first *complete* candidate wins: a COLMAP candidate needs cameras and images (.bin or .txt) in one of
sparse/0/, sparse/ or the folder, and an images/ folder; an LLFF candidate needs an images/ (or images_N/)
folder. So poses_bounds.npy beside a partial COLMAP model (cameras.bin, no images.bin) loads as LLFF, and
`Capture.detection` says which format was used and why the others were passed over. With one candidate,
complete or not, its loader runs and names what is wrong; with several and none complete, the error lists
what each lacks. `load_capture(path, format=...)` (`ngfx train --format`) skips detection.

A single file is inspected instead: a JSON with "frames" is "transforms" (or "blender"/"dnerf" when it is a
transforms_<split>.json beside transforms_train.json), a JSON with "w2c" and "fn" is "panoptic",
poses_bounds.npy is "llff" and a COLMAP cameras/images/points3D file is "colmap". Loaders are imported only
when used, so this module imports before (and without) them.
"""

import dataclasses
import importlib
from pathlib import Path

from ngfx.errors import InputError
from ngfx.scenes.captures.capture import Capture, LoadOptions, read_json_object

__all__ = ["FORMATS", "Candidate", "detect_format", "find_candidates", "load_capture"]

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
_MODEL_DIRS = ("sparse/0", "sparse", "")
_LOOKED_FOR = ("transforms_train.json (blender, dnerf), transforms.json (transforms), "
               "train_meta.json (panoptic), sparse/ or cameras.bin/.txt (colmap), poses_bounds.npy (llff)")
_FIX = f"point at a capture folder or file; supported formats: {', '.join(FORMATS)}"


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A format whose marker files are in a folder: the path its loader takes, and what it lacks ("" when
    its files are complete)."""

    format: str
    target: Path
    missing: str = ""


def detect_format(path: Path) -> str:
    """The format name (one of FORMATS) of a capture folder or file; InputError when none fits."""
    return _choose(Path(path))[0].format


def load_capture(path: Path, options: LoadOptions | None = None, *, format: str | None = None) -> Capture:
    """Detect the format of `path` (or take `format`) and load it with that format's loader (pixels are not
    read); `Capture.detection` says which format was used, and why other candidates were passed over."""
    path = Path(path)
    if format is not None:
        chosen, note = _forced(path, format), f"{format} (--format)"
    else:
        chosen, note = _choose(path)
    module_name, function_name = _LOADERS[chosen.format]
    loader = getattr(importlib.import_module(module_name), function_name)
    capture = loader(chosen.target, options or LoadOptions())
    return dataclasses.replace(capture, detection=note)


def find_candidates(folder: Path) -> list[Candidate]:
    """Every format whose marker is in `folder`, in order of preference, each with what it lacks."""
    folder = Path(folder)
    found = []
    if (folder / "transforms_train.json").is_file():
        found.append(Candidate(_blender_or_dnerf(folder / "transforms_train.json"), folder))
    if (folder / "transforms.json").is_file():
        found.append(Candidate("transforms", folder / "transforms.json"))
    if (folder / "train_meta.json").is_file():
        found.append(Candidate("panoptic", folder))
    has_llff = (folder / "poses_bounds.npy").is_file()
    if _has_colmap_cameras(folder) or ((folder / "sparse").is_dir() and not has_llff):
        found.append(Candidate("colmap", _colmap_root(folder), _colmap_missing(folder)))
    if has_llff:
        found.append(Candidate("llff", folder, "" if _has_image_folder(folder) else "no images/ folder"))
    return found


def _choose(path: Path) -> tuple[Candidate, str]:
    """(the candidate to load, the note that says why)."""
    if not path.exists():
        raise InputError("capture path does not exist", file=path, fix="check the path")
    if path.is_file():
        fmt, target = _detect_file(path)
        return Candidate(fmt, target), ""
    found = find_candidates(path)
    if not found:
        raise InputError(f"no known capture format here (looked for {_LOOKED_FOR})", file=path, fix=_FIX)
    complete = [c for c in found if not c.missing]
    if len(found) == 1:
        return found[0], ""
    if not complete:
        lacks = "; ".join(f"{c.format}: {c.missing}" for c in found)
        raise InputError(f"capture files of several formats, none complete ({lacks})", file=path,
                         fix="complete one of them, or pick one with --format")
    chosen = complete[0]
    passed = [f"{c.format} ({c.missing})" if c.missing else c.format for c in found if c is not chosen]
    return chosen, f"{chosen.format}, the first complete format here; passed over: {', '.join(passed)}"


def _forced(path: Path, fmt: str) -> Candidate:
    if fmt not in _LOADERS:
        raise InputError(f"unknown capture format {fmt!r}", field="--format", fix=f"use one of {', '.join(FORMATS)}")
    if not path.exists():
        raise InputError("capture path does not exist", file=path, fix="check the path")
    folder = path.parent if path.is_file() else path
    if fmt == "transforms":
        return Candidate(fmt, path if path.is_file() else folder / "transforms.json")
    return Candidate(fmt, _colmap_root(folder) if fmt == "colmap" else folder)


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


def _has_colmap_cameras(folder: Path) -> bool:
    return any((folder / sub / f"cameras.{ext}").is_file() for sub in _MODEL_DIRS for ext in ("bin", "txt"))


def _colmap_missing(folder: Path) -> str:
    """What a COLMAP candidate lacks: a model folder with cameras and images, and the images/ folder."""
    root = _colmap_root(folder)
    for sub in _MODEL_DIRS:
        model = folder / sub
        has = {stem: any((model / f"{stem}.{ext}").is_file() for ext in ("bin", "txt"))
               for stem in ("cameras", "images")}
        if has["cameras"] and not has["images"]:
            return f"{sub + '/' if sub else 'the folder'} has cameras but no images.bin or images.txt"
        if all(has.values()):
            return "" if (root / "images").is_dir() else "no images/ folder"
    return "no cameras.bin or cameras.txt in sparse/0/, sparse/ or the folder"


def _has_image_folder(folder: Path) -> bool:
    return (folder / "images").is_dir() or any(p.is_dir() and p.name.startswith("images_")
                                               for p in folder.iterdir())


def _colmap_root(folder: Path) -> Path:
    """The scene folder (holding images/) for a model folder given as <scene>/sparse or <scene>/sparse/<n>."""
    if folder.name.isdigit() and folder.parent.name == "sparse":
        return folder.parent.parent
    if folder.name == "sparse":
        return folder.parent
    return folder
