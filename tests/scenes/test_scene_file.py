"""Scene files: lossless round trips, relative paths, atomic saves, and errors naming file and field."""

import copy
import json

import numpy as np
import pytest

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.graph import DirectionalLight
from ngfx.scenes.mesh import TriMesh
from ngfx.scenes.scene_file import load_scene, save_scene
from tests.scenes import mesh_files

MATRIX = [[0.0, 0.0, 2.0, 1.0], [0.0, 2.0, 0.0, 0.0], [-2.0, 0.0, 0.0, 0.5], [0.0, 0.0, 0.0, 1.0]]
CHECKER = {"procedural": "checker", "squares": 2, "size": 8, "colors": [[1, 1, 1], [0, 0, 0]]}
SCENE = {  # written in canonical form, so saving must reproduce it exactly
    "nodes": [
        {"name": "robot", "type": "group", "note": "unknown keys stay", "transform": {"translation": [1, 0, 0]},
         "children": [
             {"name": "body", "type": "mesh", "path": "meshes/square.obj", "transform": {"matrix": MATRIX}},
             {"name": "wheel", "type": "mesh", "primitive": {"shape": "torus", "major_segments": 8, "minor_segments": 4},
              "material": {"color": [0.2, 0.3, 0.4], "texture": CHECKER},
              "tracks": [{"property": "rotation_wxyz", "times": [0, 4], "values": [[1, 0, 0, 0], [0, 0, 1, 0]],
                          "interpolation": "LINEAR"}]},
         ]},
        {"name": "sun", "type": "light", "direction": [0, -1, 0], "color": [1, 1, 1], "intensity": 2,
         "visible": False},
    ],
    "cameras": [Camera.look_at((0, 1, 5), (0, 0, 0), width=32, height=24, name="main").to_dict()],
    "time": {"duration_s": 4.0},
    "background": [0.1, 0.2, 0.3],
    "up": [0, 1, 0],
    "editor": {"selected": "/robot/wheel"},
}


@pytest.fixture
def scene_path(tmp_path):
    """tmp/sub/scene.json = SCENE, with its OBJ (+ MTL + PNG) in tmp/sub/meshes."""
    (tmp_path / "sub" / "meshes").mkdir(parents=True)
    mesh_files.write_textured_obj(tmp_path / "sub" / "meshes")
    path = tmp_path / "sub" / "scene.json"
    path.write_text(json.dumps(SCENE, indent=1))
    return path


def test_load_save_load_is_lossless_and_stable(scene_path):
    scene = load_scene(scene_path)
    assert scene.extra == {"editor": {"selected": "/robot/wheel"}} and scene.duration_s == 4.0
    assert scene.find("/robot").params == {"note": "unknown keys stay"}
    save_scene(scene, scene_path)
    first = scene_path.read_bytes()
    assert json.loads(first) == SCENE
    save_scene(load_scene(scene_path), scene_path)
    assert scene_path.read_bytes() == first
    assert sorted(p.name for p in scene_path.parent.iterdir()) == ["meshes", "scene.json"]  # no temporary left


def test_loaded_scene_evaluates(scene_path):
    scene = load_scene(scene_path)
    paths = [path for path, _, _ in scene.drawables(2.0)]
    assert paths == ["/robot/body", "/robot/wheel"]
    body = scene.find("/robot/body").payload
    assert isinstance(body, TriMesh) and body.material.texture.shape == (4, 8, 3)
    np.testing.assert_allclose(scene.world_transforms(0.0)["/robot/body"][:3, 3], [2, 0, 0.5])
    wheel = scene.find("/robot/wheel").payload
    np.testing.assert_allclose(wheel.material.color, [0.2, 0.3, 0.4])
    np.testing.assert_allclose(wheel.material.texture[0, 0], [1, 1, 1])
    assert scene.lights(0.0) == []  # the sun is hidden
    assert isinstance(scene.find("/sun").payload, DirectionalLight)
    assert scene.cameras[0].name == "main" and scene.cameras[0].width == 32


def test_relative_paths_follow_the_scene_file(scene_path, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    scene = load_scene("../sub/scene.json")
    assert scene.find("/robot/body").payload.faces.shape == (2, 3)
    # Saved into another folder, relative paths are re-anchored to keep pointing at the same files.
    save_scene(scene, tmp_path / "other.json")
    saved = json.loads((tmp_path / "other.json").read_text())
    assert saved["nodes"][0]["children"][0]["path"] == "sub/meshes/square.obj"
    assert load_scene(tmp_path / "other.json").find("/robot/body").payload.faces.shape == (2, 3)


def test_material_image_texture_and_colour_override(tmp_path):
    mesh_files.write_textured_obj(tmp_path)  # also writes square.png
    mesh_files.write_ply(tmp_path / "square.ply")
    data = {"nodes": [
        {"name": "a", "type": "mesh", "primitive": {"shape": "box"}, "material": {"texture": "square.png"}},
        {"name": "b", "type": "mesh", "path": "square.ply", "material": {"color": [0, 1, 0]}},
    ]}
    (tmp_path / "s.json").write_text(json.dumps(data))
    scene = load_scene(tmp_path / "s.json")
    np.testing.assert_array_equal(scene.find("/a").payload.material.texture, mesh_files.TEXTURE / 255.0)
    b = scene.find("/b").payload
    assert b.vertex_colors is None and b.material.color == (0.0, 1.0, 0.0)  # the node's colour wins


def field_error(tmp_path, data, name="scene.json") -> InputError:
    """The InputError from loading `data` (and its payloads) as tmp/scene.json, beside SCENE's mesh."""
    (tmp_path / "meshes").mkdir(exist_ok=True)
    mesh_files.write_textured_obj(tmp_path / "meshes")
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    with pytest.raises(InputError) as info:
        scene = load_scene(path)
        scene.load_payloads()
    assert name in str(info.value), str(info.value)
    return info.value


def with_change(change) -> dict:
    data = copy.deepcopy(SCENE)
    change(data)
    return data


BAD = [
    ('{"nodes": [\n  {"name": "a",}\n]}', None, "line 2, column 16"),
    ({"cameras": []}, "nodes", "missing 'nodes'"),
    ({"nodes": {"name": "a"}}, "nodes", "must be a list"),
    ([1, 2], None, "JSON object"),
    ({"nodes": [{"type": "group"}]}, "nodes[0].name", "missing 'name'"),
    ({"nodes": [{"name": "a", "type": "blob"}]}, "nodes[0].type", "unknown node type 'blob'; use one of"),
    ({"nodes": [{"name": "a", "type": "group"}, {"name": "a", "type": "group"}]}, "nodes[1].name", "used twice"),
    ({"nodes": [{"name": "a/b", "type": "group"}]}, "nodes[0].name", "without '/'"),
    ({"nodes": [{"name": "a", "type": "group", "visible": "yes"}]}, "nodes[0].visible", "true or false"),
    (with_change(lambda d: d["nodes"][0].update(transform={"translation": [1, 2]})),
     "nodes[0].transform.translation", "3 finite numbers"),
    ('{"nodes": [{"name": "a", "type": "group", "transform": {"rotation_wxyz": [NaN, 0, 0, 1]}}]}',
     "nodes[0].transform.rotation_wxyz", "finite"),
    (with_change(lambda d: d["nodes"][0]["children"][0]["transform"]["matrix"].__setitem__(3, [0, 0, 1, 1])),
     "nodes[0].children[0].transform.matrix[3]", "last row"),
    (with_change(lambda d: d["nodes"][0]["children"][1]["tracks"][0].update(times=[4, 0])),
     "nodes[0].children[1].tracks[0].times", "strictly increasing"),
    (with_change(lambda d: d["nodes"][0]["children"][1]["tracks"][0]["values"].__setitem__(1, [0, 1])),
     "nodes[0].children[1].tracks[0].values[1]", "4 finite numbers"),
    (with_change(lambda d: d["nodes"][0]["children"][1]["tracks"].append(d["nodes"][0]["children"][1]["tracks"][0])),
     "nodes[0].children[1].tracks[1].property", "second 'rotation_wxyz' track"),
    (with_change(lambda d: d["cameras"][0]["K"][0].__setitem__(0, 0)), "cameras[0].K", "focal length"),
    (with_change(lambda d: d["cameras"][0].pop("width")), "cameras[0].width", "missing 'width'"),
    (with_change(lambda d: d.update(time={"duration_s": -2})), "time.duration_s", ">= 0"),
    (with_change(lambda d: d.update(time={"fps": 30})), "time", "duration_s"),
    (with_change(lambda d: d.update(background=[0, 0, 2])), "background", "in [0, 1]"),
    # Payload parameters are checked when the payloads load, still naming the scene file and field.
    (with_change(lambda d: d["nodes"][0]["children"][1]["primitive"].update(minor_radius=-1)),
     "nodes[0].children[1].primitive.minor_radius", "greater than 0"),
    (with_change(lambda d: d["nodes"][0]["children"][1]["material"].update(color=[2, 0, 0])),
     "nodes[0].children[1].material.color", "in [0, 1]"),
    (with_change(lambda d: d["nodes"][1].update(direction=[0, 0, 0])), "nodes[1].direction", "must not be zero"),
    ({"nodes": [{"name": "m", "type": "mesh"}]}, "nodes[0].path", "exactly one of 'path' and 'primitive'"),
]


@pytest.mark.parametrize("data, field, needle", BAD)
def test_bad_scene_files_name_file_and_field(tmp_path, data, field, needle):
    error = field_error(tmp_path, data)
    assert error.field == field, str(error)
    assert needle in str(error), str(error)
    if field:
        assert f"field '{field}'" in str(error)


def test_missing_mesh_file_names_it_and_the_node(tmp_path):
    error = field_error(tmp_path, {"nodes": [{"name": "g", "type": "group", "children": [
        {"name": "m", "type": "mesh", "path": "meshes/missing.obj"}]}]})
    message = str(error)
    assert "missing.obj" in message and "does not exist" in message and "nodes[0].children[0]" in message


def test_save_is_atomic_and_reports_unwritable_targets(scene_path, tmp_path):
    scene = load_scene(scene_path)
    before = scene_path.read_bytes()
    scene.find("/robot").params["bad"] = {1, 2}  # not JSON
    with pytest.raises(InputError, match="JSON cannot store"):
        save_scene(scene, scene_path)
    assert scene_path.read_bytes() == before
    del scene.find("/robot").params["bad"]
    with pytest.raises(InputError, match="cannot write") as info:
        save_scene(scene, tmp_path / "no" / "such" / "folder" / "scene.json")
    assert "scene.json" in str(info.value)
    assert sorted(p.name for p in scene_path.parent.iterdir()) == ["meshes", "scene.json"]


def test_missing_scene_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_scene(tmp_path / "nope.json")
