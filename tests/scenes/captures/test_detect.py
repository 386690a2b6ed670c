"""Format detection from marker files (no other format is loaded), and load_capture's dispatch."""

import json

import pytest

from ngfx.errors import InputError
from ngfx.scenes.captures import LoadOptions, detect_format, load_capture
from ngfx.scenes.captures import detect as detect_module
from ngfx.scenes.captures.detect import FORMATS
from tests.scenes.captures.test_llff import make_scene


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
    (["poses_bounds.npy", "images/", "sparse/0/cameras.bin", "sparse/0/images.bin"], "colmap"),  # + points
    (["poses_bounds.npy", "images/", "sparse/0/cameras.bin"], "llff"),  # a partial model is passed over
    (["poses_bounds.npy", "sparse/0/cameras.bin", "sparse/0/images.bin", "images/"], "colmap"),
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


_SEEN_OPTIONS = []


def _fake_loader(path, options):
    _SEEN_OPTIONS.append(options)
    return _fake("fake", path)


def test_load_capture_dispatches_with_the_loaders_path(tmp_path, monkeypatch):
    for fmt in ("colmap", "transforms", "llff"):
        monkeypatch.setitem(detect_module._LOADERS, fmt, (__name__, "_fake_loader"))
    _touch(tmp_path, "scene/sparse/0/cameras.bin", "nerf/transforms.json", "llff/poses_bounds.npy")
    options = LoadOptions(downscale=2)
    assert load_capture(tmp_path / "scene/sparse/0", options).root == tmp_path / "scene"
    assert _SEEN_OPTIONS[-1] is options
    assert load_capture(tmp_path / "scene").root == tmp_path / "scene" and _SEEN_OPTIONS[-1] == LoadOptions()
    assert load_capture(tmp_path / "nerf").root == tmp_path / "nerf/transforms.json"
    assert load_capture(tmp_path / "llff/poses_bounds.npy").root == tmp_path / "llff"


def test_complete_llff_beside_a_partial_colmap_model_loads_as_llff(tmp_path):
    """The new user's folder: LLFF poses and images, and COLMAP's cameras.bin without images.bin."""
    make_scene(tmp_path)
    _touch(tmp_path, "sparse/0/cameras.bin")
    capture = load_capture(tmp_path)
    assert capture.format == "llff" and len(capture.frames) == 10
    assert capture.detection.startswith("llff") and "colmap (sparse/0/ has cameras but no images" in \
        capture.detection, capture.detection
    assert load_capture(tmp_path / "poses_bounds.npy").detection == ""  # a file names its format


def test_several_incomplete_formats_say_what_each_lacks(tmp_path):
    _touch(tmp_path, "poses_bounds.npy", "cameras.bin")
    with pytest.raises(InputError) as err:
        detect_format(tmp_path)
    message = str(err.value)
    assert "none complete" in message and "colmap: the folder has cameras but no images" in message
    assert "llff: no images/ folder" in message and "--format" in message and "\n" not in message
    (tmp_path / "images").mkdir()
    _touch(tmp_path, "images.bin")
    assert detect_format(tmp_path) == "colmap"  # complete now, and first


def test_forced_format(tmp_path, monkeypatch):
    for fmt in ("colmap", "llff", "transforms"):
        monkeypatch.setitem(detect_module._LOADERS, fmt, (__name__, f"_fake_{fmt}"))
    _touch(tmp_path, "transforms.json", "poses_bounds.npy", "sparse/0/cameras.bin", "sparse/0/images.bin")
    (tmp_path / "images").mkdir()
    detected = load_capture(tmp_path)
    assert detected.format == "transforms" and "passed over: colmap, llff" in detected.detection
    forced = load_capture(tmp_path, format="llff")
    assert (forced.format, forced.root, forced.detection) == ("llff", tmp_path, "llff (--format)")
    assert load_capture(tmp_path / "sparse/0", format="colmap").root == tmp_path
    assert load_capture(tmp_path, format="transforms").root == tmp_path / "transforms.json"
    with pytest.raises(InputError, match="unknown capture format 'nerf'"):
        load_capture(tmp_path, format="nerf")


def _fake(fmt, path):
    from ngfx.scenes.captures.capture import Capture

    return Capture(root=path, format=fmt, frames=())


def _fake_colmap(path, options):
    return _fake("colmap", path)


def _fake_llff(path, options):
    return _fake("llff", path)


def _fake_transforms(path, options):
    return _fake("transforms", path)


def test_train_format_flag_lists_every_format():
    from ngfx.cli.train import CAPTURE_FORMATS

    assert CAPTURE_FORMATS == FORMATS
