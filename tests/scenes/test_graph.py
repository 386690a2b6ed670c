"""The scene graph: world transforms, paths, edits and caching, visibility, lights, bounds, node types."""

import math

import numpy as np
import pytest

from ngfx.errors import InputError
from ngfx.scenes import nodes as nodes_module
from ngfx.scenes.graph import DirectionalLight, Node, Scene, Track, Transform, register_node_type
from ngfx.scenes.mesh import TriMesh
from ngfx.scenes.transforms import quat_from_axis_angle


def quat_y(deg: float) -> tuple:
    return tuple(quat_from_axis_angle([0, 1, 0], math.radians(deg)))


def robot() -> Scene:
    """/robot (at x=1, turned 90 deg about +y, scale 2) / arm (at z=1 in robot space) / hand (at y=0.5)."""
    hand = Node("hand", "mesh", transform=Transform(translation=(0, 0.5, 0)), params={"primitive": {"shape": "box"}})
    arm = Node("arm", transform=Transform(translation=(0, 0, 1)), children=[hand])
    base = Node("robot", transform=Transform(translation=(1, 0, 0), rotation_wxyz=quat_y(90), scale=(2, 2, 2)),
                children=[arm])
    return Scene([base])


def test_nested_world_transforms():
    world = robot().world_transforms(0.0)
    assert list(world) == ["/robot", "/robot/arm", "/robot/arm/hand"]
    # Robot space: +z turns into world +x (90 deg about +y) and lengths double.
    np.testing.assert_allclose(world["/robot/arm"][:3, 3], [3, 0, 0], atol=1e-12)
    np.testing.assert_allclose(world["/robot/arm/hand"][:3, 3], [3, 1, 0], atol=1e-12)
    np.testing.assert_allclose(world["/robot/arm/hand"][:3, :3] @ [0, 0, 1], [2, 0, 0], atol=1e-12)
    assert not world["/robot"].flags.writeable


def test_find_add_remove_and_walk():
    scene = robot()
    assert scene.find("/robot/arm/hand").name == "hand"
    assert scene.find("robot/arm").name == "arm"  # the leading slash is optional
    with pytest.raises(InputError, match="no node 'leg' under '/robot'.*children there: arm"):
        scene.find("/robot/leg")
    assert scene.add(Node("leg"), parent="/robot") == "/robot/leg"
    with pytest.raises(InputError, match="already exists"):
        scene.add(Node("leg"), parent="/robot")
    assert [path for path, _ in scene.walk()] == ["/robot", "/robot/arm", "/robot/arm/hand", "/robot/leg"]
    removed = scene.remove("/robot/arm")
    assert removed.name == "arm" and [p for p, _ in scene.walk()] == ["/robot", "/robot/leg"]
    with pytest.raises(InputError):
        scene.find("/robot/arm/hand")
    with pytest.raises(InputError, match="already in the scene"):
        scene.add(scene.find("/robot/leg"))


def test_edits_invalidate_the_cache():
    scene = robot()
    before = scene.world_transforms(0.0)["/robot/arm/hand"][:3, 3].copy()
    version = scene.version
    scene.find("/robot/arm").transform = Transform(translation=(0, 0, 2))
    assert scene.version != version
    np.testing.assert_allclose(scene.world_transforms(0.0)["/robot/arm/hand"][:3, 3], before + [2, 0, 0], atol=1e-12)
    scene.find("/robot").children.append(Node("extra"))  # list edits count too
    assert "/robot/extra" in scene.world_transforms(0.0)
    scene.find("/robot").tracks.append(Track("translation", [0, 1], [[0, 0, 0], [0, 10, 0]]))
    assert scene.world_transforms(1.0)["/robot/extra"][1, 3] == pytest.approx(10.0)


def test_tracks_move_nodes_over_time_and_cache_per_time():
    node = Node("spinner", transform=Transform(translation=(5, 0, 0)),
                tracks=[Track("rotation_wxyz", [0, 4], [quat_y(0), quat_y(180)])])
    scene = Scene([node])
    x_axis = [scene.world_transforms(t)["/spinner"][:3, 0] for t in (0.0, 2.0, 4.0)]
    np.testing.assert_allclose(x_axis[0], [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(x_axis[1], [0, 0, -1], atol=1e-12)  # 90 deg about +y takes +x to -z
    np.testing.assert_allclose(x_axis[2], [-1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(scene.world_transforms(2.0)["/spinner"][:3, 3], [5, 0, 0])  # translation kept


def test_matrix_transform_with_a_track_keeps_its_other_parts():
    M = np.diag([2.0, 2.0, 2.0, 1.0])
    M[:3, 3] = [1, 2, 3]
    node = Node("m", transform=Transform.from_matrix(M), tracks=[Track("translation", [0], [[7, 8, 9]])])
    T = node.local_matrix(0.0)
    np.testing.assert_allclose(T[:3, :3], 2 * np.eye(3), atol=1e-12)
    np.testing.assert_allclose(T[:3, 3], [7, 8, 9])


def test_hidden_parent_hides_children_and_visible_tracks():
    scene = robot()
    scene.add(Node("lamp", "mesh", params={"primitive": {"shape": "sphere", "radius": 0.1}}))
    assert [path for path, _, _ in scene.drawables(0.0)] == ["/robot/arm/hand", "/lamp"]
    scene.find("/robot").visible = False
    assert [path for path, _, _ in scene.drawables(0.0)] == ["/lamp"]
    scene.find("/lamp").tracks = [Track("visible", [0, 1], [True, False])]
    assert [path for path, _, _ in scene.drawables(0.5)] == ["/lamp"]
    assert scene.drawables(1.5) == []
    assert scene.bounds(1.5) is None


def test_drawables_load_payloads_lazily():
    scene = robot()
    hand = scene.find("/robot/arm/hand")
    assert hand._loaded is False
    (_path, node, T_world_node), = scene.drawables(0.0)
    assert node is hand and isinstance(node.payload, TriMesh) and hand._loaded
    np.testing.assert_allclose(T_world_node[:3, 3], [3, 1, 0], atol=1e-12)


def test_bounds_transform_the_payload_box():
    scene = Scene([Node("box", "mesh", params={"primitive": {"shape": "box", "size": [2, 2, 2]}},
                        transform=Transform(translation=(10, 0, 0), rotation_wxyz=quat_y(45), scale=(1, 3, 1)))])
    lo, hi = scene.bounds(0.0)
    r = math.sqrt(2)
    np.testing.assert_allclose(lo, [10 - r, -3, -r], atol=1e-6)
    np.testing.assert_allclose(hi, [10 + r, 3, r], atol=1e-6)


def test_lights_carry_their_world_transform():
    sun = Node("sun", "light", params={"direction": [0, 0, -2], "color": [1, 0.5, 0.25], "intensity": 2},
               transform=Transform(rotation_wxyz=quat_y(90)))
    scene = Scene([Node("rig", children=[sun])])
    (light, T_world_node), = scene.lights(0.0)
    assert isinstance(light, DirectionalLight)
    assert light.direction == pytest.approx((0, 0, -1)) and light.color == pytest.approx((2, 1, 0.5))
    np.testing.assert_allclose(light.direction_in(T_world_node), [-1, 0, 0], atol=1e-12)
    assert scene.drawables(0.0) == []  # lights are not drawn


def test_unknown_type_and_bad_params_are_input_errors():
    scene = Scene([Node("blob", "blobby")])
    with pytest.raises(InputError, match="unknown node type 'blobby'.*group, light, mesh"):
        scene.drawables(0.0)
    scene = Scene([Node("ball", "mesh", params={"primitive": {"shape": "sphere", "radius": -1}})])
    with pytest.raises(InputError) as info:
        scene.load_payloads()
    assert info.value.field == "node 'ball'.primitive.radius", str(info.value)


def test_registered_node_types_load_with_base_dir(monkeypatch, tmp_path):
    monkeypatch.setattr(nodes_module, "_NODE_TYPES", dict(nodes_module._NODE_TYPES))  # undone after the test
    seen = []

    class Points:
        def bounds(self):
            return np.zeros(3), np.ones(3)

    def load_points(node, base_dir):
        seen.append((node.params["path"], base_dir))
        return Points()

    register_node_type("points", load_points)
    scene = Scene([Node("cloud", "points", params={"path": "cloud.ply"})], base_dir=tmp_path)
    (_, node, _), = scene.drawables(0.0)
    assert isinstance(node.payload, Points) and seen == [("cloud.ply", tmp_path)]
    np.testing.assert_allclose(scene.bounds(0.0)[1], [1, 1, 1])


def test_bad_names_and_scene_settings():
    with pytest.raises(InputError, match="without '/'"):
        Node("a/b")
    with pytest.raises(InputError, match="background"):
        Scene(background=(2, 0, 0))
    with pytest.raises(InputError, match="up"):
        Scene(up=(0, 0, 0))
    with pytest.raises(InputError, match="duration_s"):
        Scene(duration_s=-1)
