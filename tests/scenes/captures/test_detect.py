"""Format detection from marker files (no other format is loaded), and load_capture's dispatch."""

import json

import pytest

from ngfx.errors import InputError
from ngfx.scenes.captures import LoadOptions, detect_format, load_capture
from ngfx.scenes.captures import detect as detect_module


def _touch(folder, *names, text="{}"):
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def _frames(time: bool) -> str:
    frame = {"file_path": "./train/r_0", "transform_matrix": [[1, 0, 0, 0]] * 4}
    return json.dumps({"camera_angle_x": 0.7, "frames": [dict(frame, time=0.0) if time else frame]})


@pytest.mark.parametrize("names, expected", [
    (["transforms.json"], "transforms"),
    (["train_meta.json"], "panoptic"),
    (["sparse/0/cameras.bin"], "colmap"),
    (["sparse/cameras.txt"], "colmap"),
    (["cameras.txt", "images.txt"], "colmap"),
    (["sparse/"], "colmap"),
    (["poses_bounds.npy"], "llff"),
    (["poses_bounds.npy", "sparse/"], "llff"),  # an empty sparse/ is no model
    (["poses_bounds.npy", "sparse/0/cameras.bin"], "colmap"),  # the model brings points
    (["transforms.json", "colmap/sparse/0/cameras.bin", "sparse/0/cameras.bin"], "transforms"),
])
def test_folder_markers(tmp_path, names, expected):
    for name in names:
        (tmp_path / name).mkdir(parents=True) if name.endswith("/") else _touch(tmp_path, name)
    assert detect_format(tmp_path) == expected


def test_blender_and_dnerf(tmp_path):
    _touch(tmp_path, "transforms_train.json", "transforms_val.json", text=_frames(time=False))
    assert detect_format(tmp_path) == "blender"
    assert detect_format(tmp_path / "transforms_val.json") == "blender"
    _touch(tmp_path, "transforms_train.json", text=_frames(time=True))
    assert detect_format(tmp_path) == "dnerf"


def test_single_files(tmp_path):
    _touch(tmp_path, "a/transforms.json", text=_frames(time=False))
    assert detect_format(tmp_path / "a/transforms.json") == "transforms"
    _touch(tmp_path, "b/meta.json", text=json.dumps({"w2c": [], "fn": []}))
    assert detect_format(tmp_path / "b/meta.json") == "panoptic"
    _touch(tmp_path, "c/poses_bounds.npy", "d/sparse/0/images.bin")
    assert detect_format(tmp_path / "c/poses_bounds.npy") == "llff"
    assert detect_format(tmp_path / "d/sparse/0/images.bin") == "colmap"
    _touch(tmp_path, "e/other.json", text="[1, 2]")
    with pytest.raises(InputError, match="expected a JSON object"):
        detect_format(tmp_path / "e/other.json")
    _touch(tmp_path, "e/notes.txt")
    with pytest.raises(InputError, match="not a capture file"):
        detect_format(tmp_path / "e/notes.txt")


def test_unknown_folder_says_what_was_looked_for(tmp_path):
    _touch(tmp_path, "images/0001.jpg")
    with pytest.raises(InputError) as err:
        detect_format(tmp_path)
    message = str(err.value)
    for word in ("transforms_train.json", "transforms.json", "train_meta.json", "sparse/", "poses_bounds.npy",
                 "blender, dnerf", "colmap, llff, panoptic"):
        assert word in message, word
    assert "\n" not in message
    with pytest.raises(InputError, match="does not exist"):
        detect_format(tmp_path / "nope")


def _fake_loader(path, options):
    return path, options


def test_load_capture_dispatches_with_the_loaders_path(tmp_path, monkeypatch):
    for fmt in ("colmap", "transforms", "llff"):
        monkeypatch.setitem(detect_module._LOADERS, fmt, (__name__, "_fake_loader"))
    _touch(tmp_path, "scene/sparse/0/cameras.bin", "nerf/transforms.json", "llff/poses_bounds.npy")
    options = LoadOptions(downscale=2)
    assert load_capture(tmp_path / "scene/sparse/0", options) == (tmp_path / "scene", options)
    assert load_capture(tmp_path / "scene") == (tmp_path / "scene", LoadOptions())
    assert load_capture(tmp_path / "nerf")[0] == tmp_path / "nerf/transforms.json"
    assert load_capture(tmp_path / "llff/poses_bounds.npy")[0] == tmp_path / "llff"
