"""The scene graph: a `Scene` of named nodes, evaluated at a time t (seconds of scene time).

Paths name nodes from a root down ("/robot/arm"; names are unique among siblings). For every path,
`world_transforms(t)` gives `T_world_node` = T_world_root @ ... @ T_parent_node, with keyframe tracks
applied; results are cached per t until the graph is edited (see `nodes` for what counts as an edit).
A hidden node hides its whole subtree. The world is Y-up unless `up` says otherwise; cameras use the
conventions of `ngfx.scenes.camera`.

This module also re-exports the graph's building blocks, so `from ngfx.scenes.graph import ...` finds
Node, Transform, Track, DirectionalLight and register_node_type.
"""

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.nodes import (
    Node,
    WatchedList,
    edit_stamp,
    node_type_names,
    register_node_type,
    split_path,
    touch,
)
from ngfx.scenes.payloads import DirectionalLight
from ngfx.scenes.renderable import Renderable
from ngfx.scenes.tracks import Track
from ngfx.scenes.transforms import Transform, transform_bounds
from ngfx.scenes.validate import finite_vector, is_number

__all__ = ["DirectionalLight", "Node", "Scene", "Track", "Transform", "node_type_names", "register_node_type"]

_CACHED_TIMES = 8  # world-transform sets kept (a viewer alternates between few times)


class Scene:
    """Root nodes, cameras, and scene-wide settings; `base_dir` anchors relative paths in node params."""

    def __init__(self, roots=(), cameras=(), *, duration_s: float = 0.0, background=(0.0, 0.0, 0.0),
                 up=(0.0, 1.0, 0.0), extra: dict | None = None, base_dir=None):
        if not is_number(duration_s) or duration_s < 0:
            raise InputError(f"must be a number of seconds >= 0, got {duration_s!r}", field="time.duration_s",
                             fix="use 0 for a static scene")
        self.duration_s = float(duration_s)  # 0 = static
        self.background = finite_vector(background, 3, "background", low=0.0, high=1.0)
        self.up = finite_vector(up, 3, "up")
        if not any(self.up):
            raise InputError("must not be zero", field="up", fix="e.g. [0, 1, 0] for a Y-up world")
        self.cameras: list[Camera] = list(cameras)
        self.extra = dict(extra or {})  # unknown top-level JSON keys, written back verbatim
        self.base_dir = Path(base_dir) if base_dir is not None else Path(".")
        self._roots = WatchedList()
        self._cache: dict[float, dict[str, np.ndarray]] = {}
        self._cache_stamp = -1
        for node in roots:
            self.add(node)

    @property
    def roots(self) -> list[Node]:
        """The top-level nodes (edits to this list are seen; prefer `add`/`remove`, which check names)."""
        return self._roots

    @roots.setter
    def roots(self, nodes):
        self._roots = WatchedList(nodes)
        touch()

    @property
    def version(self) -> int:
        """Changes on every graph edit (add, remove, or a node attribute set anywhere)."""
        return edit_stamp()

    # --- structure ----------------------------------------------------------------------------------------
    def walk(self) -> Iterator[tuple[str, Node]]:
        """Every (path, node), parents before children, in file order."""
        stack = [(f"/{node.name}", node) for node in reversed(self.roots)]
        while stack:
            path, node = stack.pop()
            yield path, node
            stack.extend((f"{path}/{child.name}", child) for child in reversed(node.children))

    def find(self, path: str) -> Node:
        """The node at a path like "/robot/arm"; InputError naming what exists where the path breaks."""
        names, siblings, here = split_path(path), self.roots, ""
        if not names:
            raise InputError("the root '/' is not a node", field=path, fix="name a node, e.g. '/robot'")
        for name in names:
            match = next((node for node in siblings if node.name == name), None)
            if match is None:
                known = ", ".join(node.name for node in siblings) or "none"
                raise InputError(f"no node {name!r} under '{here or '/'}'", field=path, fix=f"children there: {known}")
            here, siblings = f"{here}/{name}", match.children
        return match

    def add(self, node: Node, parent: str = "/") -> str:
        """Attach `node` (and its subtree) under `parent`; returns the node's path."""
        if not isinstance(node, Node):
            raise TypeError(f"Scene.add takes a Node, got {type(node).__name__}")
        siblings = self.roots if not split_path(parent) else self.find(parent).children
        if any(other.name == node.name for other in siblings):
            raise InputError(f"'{parent.rstrip('/')}/{node.name}' already exists", field="name",
                             fix="give sibling nodes different names")
        if any(other is node for _, other in self.walk()):
            raise InputError(f"node {node.name!r} is already in the scene", fix="remove it first")
        for _, inner in _subtree(node):
            if inner.base_dir is None:
                inner.base_dir = self.base_dir
        siblings.append(node)
        return f"{parent.rstrip('/')}/{node.name}"

    def remove(self, path: str) -> Node:
        """Detach the node at `path` (with its subtree) and return it."""
        node = self.find(path)
        names = split_path(path)
        siblings = self.roots if len(names) == 1 else self.find("/" + "/".join(names[:-1])).children
        siblings.remove(node)
        return node

    # --- evaluation at time t -----------------------------------------------------------------------------
    def world_transforms(self, t: float = 0.0) -> dict[str, np.ndarray]:
        """{path: T_world_node (4x4, read-only)} at time t, for every node."""
        if self._cache_stamp != edit_stamp():
            self._cache.clear()
            self._cache_stamp = edit_stamp()
        key = float(t)
        if key not in self._cache:
            if len(self._cache) >= _CACHED_TIMES:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = self._compute_world(key)
        return dict(self._cache[key])

    def _compute_world(self, t: float) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for path, node in self.walk():
            parent = path.rsplit("/", 1)[0]
            T = node.local_matrix(t) if not parent else out[parent] @ node.local_matrix(t)
            T.flags.writeable = False
            out[path] = T
        return out

    def _visible(self, t: float) -> Iterator[tuple[str, Node]]:
        """(path, node) for nodes visible at t, skipping hidden subtrees."""
        stack = [(f"/{node.name}", node) for node in reversed(self.roots)]
        while stack:
            path, node = stack.pop()
            if node.visible_at(t):
                yield path, node
                stack.extend((f"{path}/{child.name}", child) for child in reversed(node.children))

    def drawables(self, t: float = 0.0) -> list[tuple[str, Node, np.ndarray]]:
        """(path, node, T_world_node) for visible nodes of drawable types that have a payload."""
        world = self.world_transforms(t)
        return [(path, node, world[path]) for path, node in self._visible(t)
                if node.kind.drawable and node.payload is not None]

    def lights(self, t: float = 0.0) -> list[tuple[DirectionalLight, np.ndarray]]:
        """(light, T_world_node) for visible light nodes; `light.direction_in(T)` gives the world direction."""
        world = self.world_transforms(t)
        return [(node.payload, world[path]) for path, node in self._visible(t)
                if not node.kind.drawable and isinstance(node.payload, DirectionalLight)]

    def bounds(self, t: float = 0.0) -> tuple[np.ndarray, np.ndarray] | None:
        """World-space axis-aligned (min, max) of everything drawn at t, or None when nothing has bounds."""
        boxes = []
        for _, node, T_world_node in self.drawables(t):
            local = _payload_bounds(node.payload, t)
            if local is not None:
                boxes.append(transform_bounds(T_world_node, *local))
        if not boxes:
            return None
        return np.min([lo for lo, _ in boxes], axis=0), np.max([hi for _, hi in boxes], axis=0)

    def load_payloads(self) -> None:
        """Load every node's payload now (e.g. in a CLI, to report bad files before rendering starts)."""
        for _, node in self.walk():
            _ = node.payload

    def touch(self) -> None:
        """Drop cached transforms explicitly (only needed after edits that bypass attributes)."""
        touch()


def _subtree(node: Node) -> Iterator[tuple[str, Node]]:
    stack = [("", node)]
    while stack:
        path, here = stack.pop()
        yield path, here
        stack.extend((f"{path}/{child.name}", child) for child in here.children)


def _payload_bounds(payload, t: float):
    """A payload's local (min, max): Renderables take the time, plain data (TriMesh) does not."""
    if isinstance(payload, Renderable):
        return payload.bounds(t)
    bounds = getattr(payload, "bounds", None)
    return bounds() if callable(bounds) else None
