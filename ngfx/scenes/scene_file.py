"""Scene files: JSON <-> `Scene`, lossless for everything ngfx does not interpret.

Format (all keys but "nodes" optional):

    {"nodes": [{"name": "spot", "type": "mesh", "path": "spot.obj",
                "transform": {"translation": [0, 0, 0], "rotation_wxyz": [1, 0, 0, 0], "scale": [1, 1, 1]},
                "visible": true, "children": [...],
                "tracks": [{"property": "rotation_wxyz", "times": [0, 4],
                            "values": [[1, 0, 0, 0], [0, 0, 1, 0]], "interpolation": "LINEAR"}]}],
     "cameras": [Camera.to_dict() forms], "time": {"duration_s": 4.0},
     "background": [r, g, b], "up": [0, 1, 0]}

A node's other keys ("path", "primitive", "material", "direction", ...) are kept verbatim in
`node.params`; unknown top-level keys are kept in `scene.extra`. Relative paths are relative to the scene
file's folder. Saving writes a canonical form (defaults such as "visible": true are left out, transforms
keep the components they were given), so load -> save -> load -> save gives identical bytes. Saving into
another folder rewrites relative "path" and "material.texture" values so that they still point at the
same files. Files are written to a temporary name in the target folder and renamed into place.
"""

import json
import os
from pathlib import Path

from ngfx.atomic import write_atomic
from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.graph import Node, Scene
from ngfx.scenes.nodes import lookup_node_type
from ngfx.scenes.tracks import Track
from ngfx.scenes.transforms import Transform
from ngfx.scenes.validate import field_prefix

__all__ = ["load_scene", "save_scene", "scene_from_dict", "scene_to_dict"]

_TOP_KEYS = ("nodes", "cameras", "time", "background", "up")
_NODE_KEYS = ("name", "type", "transform", "visible", "tracks", "children")


def load_scene(path) -> Scene:
    """Read a scene file; InputError naming the file and field (e.g. nodes[2].transform.scale) if bad."""
    path = Path(path)
    if not path.is_file():
        raise InputError("scene file does not exist", file=path, fix="check the path")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}", file=path,
                         fix="fix the JSON syntax") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the scene file ({e})", file=path) from None
    return scene_from_dict(data, file=path, base_dir=path.absolute().parent)


def scene_from_dict(data, *, file=None, base_dir=None) -> Scene:
    """A Scene from parsed JSON; `file` is named in errors, `base_dir` anchors relative paths."""
    try:
        return _parse_scene(data, file, base_dir)
    except InputError as e:
        raise InputError(e.problem, file=e.file or file, field=e.field, fix=e.fix) from None


def _parse_scene(data, file, base_dir) -> Scene:
    if not isinstance(data, dict):
        raise InputError(f"a scene file holds a JSON object, not a {type(data).__name__}")
    if "nodes" not in data:
        raise InputError("missing 'nodes'", field="nodes", fix='add "nodes": [...] (may be empty)')
    roots = [_parse_node(d, f"nodes[{i}]", file, base_dir) for i, d in enumerate(_list(data["nodes"], "nodes"))]
    _check_unique(roots, "nodes")
    cameras = [_parse_camera(d, f"cameras[{i}]") for i, d in enumerate(_list(data.get("cameras", []), "cameras"))]
    time = data.get("time", {})
    if not isinstance(time, dict) or set(time) - {"duration_s"}:
        raise InputError(f"must be an object like {{\"duration_s\": 4.0}}, got {time!r}", field="time")
    extra = {key: value for key, value in data.items() if key not in _TOP_KEYS}
    return Scene(roots, cameras, duration_s=time.get("duration_s", 0.0), background=data.get("background", (0, 0, 0)),
                 up=data.get("up", (0, 1, 0)), extra=extra, base_dir=base_dir)


def _list(value, field: str) -> list:
    if not isinstance(value, list):
        raise InputError(f"must be a list, got {type(value).__name__}", field=field)
    return value


def _check_unique(nodes: list[Node], field: str) -> None:
    seen = {}
    for k, node in enumerate(nodes):
        if node.name in seen:
            raise InputError(f"name {node.name!r} is used twice (also {field}[{seen[node.name]}])",
                             field=f"{field}[{k}].name", fix="give sibling nodes different names")
        seen[node.name] = k


def _parse_node(d, where: str, file, base_dir) -> Node:
    """One node (and its subtree); `where` is its place in the file, e.g. nodes[0].children[2]."""
    if not isinstance(d, dict):
        raise InputError(f"a node must be an object, got {type(d).__name__}", field=where)
    with field_prefix(where):
        for key in ("name", "type"):
            if key not in d:
                raise InputError(f"missing {key!r}", field=key, fix="every node needs a name and a type")
        if not isinstance(d["type"], str):
            raise InputError(f"must be a string, got {d['type']!r}", field="type")
        lookup_node_type(d["type"], field="type")
        if not isinstance(d.get("visible", True), bool):
            raise InputError(f"must be true or false, got {d['visible']!r}", field="visible")
        with field_prefix("transform"):
            transform = Transform.from_dict(d["transform"]) if "transform" in d else None
        tracks = [_parse_track(t, f"tracks[{k}]") for k, t in enumerate(_list(d.get("tracks", []), "tracks"))]
        animated = [t.property for t in tracks]
        for k, prop in enumerate(animated):
            if prop in animated[:k]:
                raise InputError(f"a second {prop!r} track", field=f"tracks[{k}].property", fix="merge the keys")
    children = [_parse_node(c, f"{where}.children[{k}]", file, base_dir)
                for k, c in enumerate(_list(d.get("children", []), f"{where}.children"))]
    _check_unique(children, f"{where}.children")
    with field_prefix(where):
        node = Node(d["name"], d["type"], transform=transform, children=children, visible=d.get("visible", True),
                    tracks=tracks, params={k: v for k, v in d.items() if k not in _NODE_KEYS}, base_dir=base_dir)
    node.origin_file, node.origin_field = file, where
    return node


def _parse_track(d, where: str) -> Track:
    with field_prefix(where):
        return Track.from_dict(d)


def _parse_camera(d, where: str) -> Camera:
    if not isinstance(d, dict):
        raise InputError(f"a camera must be an object, got {type(d).__name__}", field=where)
    try:
        return Camera.from_dict(d)
    except InputError as e:  # Camera names fields "cameras.<key>"; say which camera
        field = where + (e.field or "").removeprefix("cameras")
        raise InputError(e.problem, field=field, fix=e.fix) from None
    except (TypeError, ValueError) as e:
        raise InputError(f"malformed camera ({e})", field=where,
                         fix="cameras need width, height, K (3x3) and T_camera_world (4x4)") from None


def scene_to_dict(scene: Scene, *, base_dir=None) -> dict:
    """The canonical JSON form; relative paths are rewritten for `base_dir` if it differs from the scene's."""
    data = {
        "nodes": [_node_to_dict(node, scene, base_dir) for node in scene.roots],
        "cameras": [camera.to_dict() for camera in scene.cameras],
        "time": {"duration_s": scene.duration_s},
        "background": list(scene.background),
        "up": list(scene.up),
    }
    data.update((key, value) for key, value in scene.extra.items() if key not in _TOP_KEYS)
    return data


def _node_to_dict(node: Node, scene: Scene, base_dir) -> dict:
    d = {"name": node.name, "type": node.type, **_rebased(node.params, node.base_dir or scene.base_dir, base_dir)}
    if transform := node.transform.to_dict():
        d["transform"] = transform
    if not node.visible:
        d["visible"] = False
    if node.tracks:
        d["tracks"] = [track.to_dict() for track in node.tracks]
    if node.children:
        d["children"] = [_node_to_dict(child, scene, base_dir) for child in node.children]
    return d


def _rebased(params: dict, old_dir, new_dir) -> dict:
    """params with relative "path" / "material.texture" strings re-anchored from old_dir to new_dir."""
    if new_dir is None or Path(old_dir).absolute() == Path(new_dir).absolute():
        return dict(params)

    def move(value):
        if not isinstance(value, str) or Path(value).expanduser().is_absolute():
            return value
        return Path(os.path.relpath(Path(old_dir).absolute() / value, Path(new_dir).absolute())).as_posix()

    out = dict(params)
    if "path" in out:
        out["path"] = move(out["path"])
    if isinstance(out.get("material"), dict) and "texture" in out["material"]:
        out["material"] = {**out["material"], "texture": move(out["material"]["texture"])}
    return out


def save_scene(scene: Scene, path) -> None:
    """Write the scene as JSON, atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    try:
        text = json.dumps(scene_to_dict(scene, base_dir=path.absolute().parent), indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as e:
        raise InputError(f"the scene holds a value JSON cannot store ({e})", file=path,
                         fix="node params must be plain JSON values") from None
    write_atomic(path, (text.encode("utf-8"),), what="the scene file")
