"""Scene-graph nodes, the node-type registry, and the edit stamp that invalidates cached transforms.

A node's `transform` is `T_parent_node`; its payload (a TriMesh, a DirectionalLight, Gaussians...) lives
in the node's own frame and is loaded on first use by the loader registered for the node's `type`.

Edits are seen when they go through attributes or the `children`/`tracks` lists (`node.transform = ...`,
`node.children.append(...)`); `Transform` and `Track` are immutable, so there is no in-place edit to
miss. Every edit bumps one global stamp (`edit_stamp()`), which `Scene` uses to drop its caches.
"""

import dataclasses
import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ngfx.errors import InputError
from ngfx.scenes.payloads import load_group_node, load_light_node, load_mesh_node
from ngfx.scenes.transforms import Transform, trs_to_matrix

__all__ = [
    "Node",
    "WatchedList",
    "edit_stamp",
    "lookup_node_type",
    "node_type_names",
    "register_node_type",
    "split_path",
    "touch",
]

_edit_counter = itertools.count(1)
_version = 0  # the global edit stamp: any change to any graph bumps it


def touch() -> None:
    """Record an edit (bump the stamp)."""
    global _version
    _version = next(_edit_counter)


def edit_stamp() -> int:
    """A number that changes whenever any node or scene is edited."""
    return _version


class WatchedList(list):
    """A list that bumps the edit stamp whenever it is modified."""


def _watch(name):
    def method(self, *args, **kwargs):
        touch()
        return getattr(list, name)(self, *args, **kwargs)
    return method


for _name in ("append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse", "__setitem__",
              "__delitem__", "__iadd__", "__imul__"):
    setattr(WatchedList, _name, _watch(_name))


@dataclasses.dataclass(frozen=True)
class NodeType:
    """How to load a node type's payload, and whether the renderer draws it."""

    loader: Callable
    drawable: bool


_NODE_TYPES: dict[str, NodeType] = {
    "group": NodeType(load_group_node, drawable=False),
    "light": NodeType(load_light_node, drawable=False),
    "mesh": NodeType(load_mesh_node, drawable=True),
}


def register_node_type(type_name: str, loader: Callable, *, drawable: bool = True) -> None:
    """Make `"type": type_name` loadable: `loader(node, base_dir) -> payload` (or None).

    `drawable` payloads are returned by `Scene.drawables`; the others (lights, groups) are not. Registering a
    name again replaces its loader. Register before loading scene files that use the type.
    """
    if not isinstance(type_name, str) or not type_name:
        raise ValueError(f"node type name must be a non-empty string, got {type_name!r}")
    _NODE_TYPES[type_name] = NodeType(loader, drawable)


def node_type_names() -> list[str]:
    """The registered node types, sorted."""
    return sorted(_NODE_TYPES)


def lookup_node_type(name: str, *, file=None, field=None) -> NodeType:
    """The registered (loader, drawable) of a type; InputError listing the known types if missing."""
    if name not in _NODE_TYPES:
        raise InputError(f"unknown node type {name!r}", file=file, field=field,
                         fix=f"use one of {', '.join(node_type_names())} (plugins register more)")
    return _NODE_TYPES[name]


class Node:
    """A named scene-graph node; `params` holds the node's other JSON keys verbatim (e.g. "path")."""

    def __init__(self, name: str, type: str = "group", *, transform: Transform | None = None, children=(),
                 visible: bool = True, tracks=(), params: dict | None = None, payload=None, base_dir=None):
        self.name, self.type, self.transform, self.visible = name, type, transform, bool(visible)
        self.children, self.tracks, self.params = list(children), list(tracks), dict(params or {})
        self.base_dir = None if base_dir is None else Path(base_dir)  # for relative paths in params
        self.origin_file, self.origin_field = None, None  # where a scene file defined it, for messages
        self._payload, self._loaded = payload, payload is not None

    def __setattr__(self, key, value):
        if key == "name" and (not isinstance(value, str) or not value or "/" in value):
            raise InputError(f"node name must be a non-empty string without '/', got {value!r}", field="name")
        if key in ("children", "tracks"):
            value = WatchedList(value)
        elif key == "transform":
            value = Transform() if value is None else value
            if not isinstance(value, Transform):
                raise TypeError(f"node transform must be a Transform, got {type(value).__name__}")
        super().__setattr__(key, value)
        if not key.startswith("_"):
            touch()

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.type!r}, children={[c.name for c in self.children]})"

    @property
    def payload(self):
        """The node's data in its own frame, loaded on first access by the loader for its type."""
        if not self._loaded:
            self._payload = self._load()
            self._loaded = True
        return self._payload

    @payload.setter
    def payload(self, value):
        self._payload, self._loaded = value, True

    def unload(self) -> None:
        """Forget the payload, so the next access reloads it (after editing `params`)."""
        self._payload, self._loaded = None, False

    @property
    def kind(self) -> NodeType:
        """The registered loader and drawable flag of this node's type (InputError if unregistered)."""
        return lookup_node_type(self.type, file=self.origin_file, field=self._where("type"))

    def _load(self):
        try:
            return self.kind.loader(self, self.base_dir)
        except InputError as e:
            if e.file is None or e.file == self.origin_file:  # a bad param of this node
                raise InputError(e.problem, file=self.origin_file, field=self._where(e.field), fix=e.fix) from None
            where = f"node {self._where(None)}" + (f" of {self.origin_file}" if self.origin_file else "")
            raise InputError(f"{e.problem} (loading {where})", file=e.file, field=e.field, fix=e.fix) from None

    def _where(self, field: str | None) -> str:
        base = self.origin_field or f"node '{self.name}'"
        return f"{base}.{field}" if field else base

    def local_matrix(self, t: float = 0.0) -> np.ndarray:
        """`T_parent_node` at time t: the transform with any translation/rotation/scale tracks applied."""
        moving = [track for track in self.tracks if track.property != "visible"]
        if not moving:
            return self.transform.to_matrix()
        try:
            trs = dict(zip(("translation", "rotation_wxyz", "scale"), self.transform.trs()))
        except ValueError:
            raise InputError("its matrix has a zero-scale axis, so its tracks cannot be applied",
                             file=self.origin_file, field=self._where("transform.matrix")) from None
        for track in moving:
            trs[track.property] = track.evaluate(t)
        return trs_to_matrix(trs["translation"], trs["rotation_wxyz"], trs["scale"])

    def visible_at(self, t: float = 0.0) -> bool:
        """The node's own visibility at t: a "visible" track, if any, replaces the `visible` flag."""
        flags = [track.evaluate(t) for track in self.tracks if track.property == "visible"]
        return flags[-1] if flags else self.visible


def split_path(path: str) -> list[str]:
    """"/a/b" (or "a/b") -> ["a", "b"]; "/" -> []."""
    if not isinstance(path, str):
        raise InputError(f"a node path must be a string like '/robot/arm', got {path!r}")
    names = path.strip("/").split("/") if path.strip("/") else []
    if any(not name for name in names):
        raise InputError(f"node path {path!r} has an empty name", fix="write paths like '/robot/arm'")
    return names
