"""Panoptic / Dynamic 3D Gaussians loader: a tiny synthetic rig written by the test, then the real
basketball capture when ../shared/data has it."""

import json

import imageio.v3 as iio
import numpy as np
import pytest

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.captures import Capture, LoadOptions, load_capture, load_images
from ngfx.scenes.captures.panoptic import PANOPTIC_FPS, RIG_NEAR, load_panoptic

W, H, T = 8, 6, 4
TRAIN_IDS, TEST_IDS = (4, 7, 9), (12,)


def _rig(ids) -> list[Camera]:
    """Cameras on a level ring around the origin, looking at it, world up +z (so image up is +z)."""
    angles = [2 * np.pi * i / 5 for i in ids]
    return [Camera.look_at((3 * np.cos(a), 3 * np.sin(a), 0.0), (0, 0, 0), up=(0, 0, 1), width=W, height=H,
                           fov_y_deg=50) for a in angles]


def _meta(folder, ids, write_masks: bool) -> dict:
    cams = _rig(ids)
    meta = {"w": W, "h": H, "k": [], "w2c": [], "fn": [], "cam_id": []}
    for t in range(T):
        meta["k"].append([c.K.tolist() for c in cams])
        meta["w2c"].append([c.T_camera_world.tolist() for c in cams])
        meta["fn"].append([f"{i}/{t:06d}.jpg" for i in ids])
        meta["cam_id"].append(list(ids))
        for i in ids:
            (folder / "ims" / str(i)).mkdir(parents=True, exist_ok=True)
            iio.imwrite(folder / "ims" / str(i) / f"{t:06d}.jpg", np.full((H, W, 3), 40 * t, np.uint8))
            if write_masks:
                (folder / "seg" / str(i)).mkdir(parents=True, exist_ok=True)
                iio.imwrite(folder / "seg" / str(i) / f"{t:06d}.png", np.full((H, W), 255, np.uint8))
    return meta


def write_panoptic(folder, *, test: bool = True):
    """train_meta.json (3 cameras x 4 timesteps, masks as .png) and test_meta.json (1 camera, no masks)."""
    (folder / "train_meta.json").write_text(json.dumps(_meta(folder, TRAIN_IDS, True)))
    if test:
        (folder / "test_meta.json").write_text(json.dumps(_meta(folder, TEST_IDS, False)))
    return folder


def test_cameras_pass_through_and_project(tmp_path):
    capture = load_panoptic(write_panoptic(tmp_path), LoadOptions())
    meta = json.loads((tmp_path / "train_meta.json").read_text())
    assert capture.format == "panoptic" and capture.points is None and capture.is_dynamic
    assert len(capture.frames) == T * (len(TRAIN_IDS) + len(TEST_IDS))
    X = np.array([0.1, -0.2, 0.3, 1.0])
    for frame in capture.split("train"):
        t = round(frame.camera.time * PANOPTIC_FPS)
        c = TRAIN_IDS.index(int(frame.camera_id))
        K, w2c = np.array(meta["k"][t][c]), np.array(meta["w2c"][t][c])
        expected = K @ (w2c @ X)[:3]
        got = frame.camera.K @ (frame.camera.T_camera_world @ X)[:3]
        np.testing.assert_allclose(got[:2] / got[2], expected[:2] / expected[2], atol=1e-9)
        assert (frame.camera.width, frame.camera.height) == (W, H)
        assert frame.image_path == tmp_path / "ims" / meta["fn"][t][c]
    np.testing.assert_allclose(capture.up, (0, 0, 1), atol=1e-9)
    # near plane: RIG_NEAR x the rig radius; the ring's 4 cameras stand 3 from the centre, not centred
    # on the origin (ids 4, 7, 9, 12 of 5 angles), so the radius is the median distance from their mean
    centres = np.unique(np.stack([f.camera.position for f in capture.frames]).round(6), axis=0)
    radius = np.median(np.linalg.norm(centres - centres.mean(0), axis=1))
    assert 0.5 < radius < 4
    assert all(f.camera.near == pytest.approx(RIG_NEAR * radius) for f in capture.frames)


def test_times_ids_masks_and_auto_split(tmp_path):
    capture = load_panoptic(write_panoptic(tmp_path), LoadOptions())
    times = sorted({f.camera.time for f in capture.frames})
    np.testing.assert_allclose(times, np.arange(T) / PANOPTIC_FPS)
    assert load_panoptic(tmp_path, LoadOptions(), fps=10.0).frames[-1].camera.time == pytest.approx(0.3)
    assert {f.camera_id for f in capture.split("train")} == {"4", "7", "9"}
    assert {f.camera_id for f in capture.split("test")} == {"12"} and not capture.split("val")
    for f in capture.split("train"):  # .png masks beside .jpg images
        assert f.mask_path == tmp_path / "seg" / f.camera_id / f.image_path.with_suffix(".png").name
    assert all(f.mask_path is None for f in capture.split("test"))


def test_held_out_cameras(tmp_path):
    write_panoptic(tmp_path)
    capture = load_panoptic(tmp_path, LoadOptions(split="cameras:7"))
    assert {f.camera_id for f in capture.split("val")} == {"7"} and len(capture.split("val")) == T
    assert {f.camera_id for f in capture.split("test")} == {"12"}
    every = load_panoptic(tmp_path, LoadOptions(split="every:2"))
    assert {f.camera_id for f in every.split("val")} == {"4", "9"}
    with pytest.raises(InputError, match="camera ids 5 are not in train_meta.json.*4, 7, 9"):
        load_panoptic(tmp_path, LoadOptions(split="cameras:5"))
    with pytest.raises(InputError, match="every camera"):
        load_panoptic(tmp_path, LoadOptions(split="cameras:4,7,9"))
    with pytest.raises(InputError, match="unknown split"):
        load_panoptic(tmp_path, LoadOptions(split="random"))


def test_bad_meta_files(tmp_path):
    with pytest.raises(InputError, match="no train_meta.json"):
        load_panoptic(tmp_path, LoadOptions())
    write_panoptic(tmp_path, test=False)
    meta = json.loads((tmp_path / "train_meta.json").read_text())
    del meta["cam_id"]
    (tmp_path / "train_meta.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="train_meta.json: field 'cam_id': missing key"):
        load_panoptic(tmp_path, LoadOptions())
    meta["cam_id"] = [[4, 7]] * T  # one camera short
    (tmp_path / "train_meta.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="field 'cam_id'.*shaped like 'fn'"):
        load_panoptic(tmp_path, LoadOptions())


def test_load_capture_and_images(tmp_path):
    capture = load_capture(write_panoptic(tmp_path, test=False))
    assert capture.format == "panoptic"
    images = load_images(capture, "train", LoadOptions())
    assert len(images) == T * len(TRAIN_IDS)
    assert images[0].rgb.shape == (H, W, 3) and images[0].mask.shape == (H, W) and images[0].alpha is None
    assert float(images[0].mask.min()) == 1.0


def test_real_basketball(shared_data):
    folder = shared_data / "panoptic-basketball"
    if not (folder / "train_meta.json").is_file():
        pytest.skip(f"{folder} is absent")
    capture = load_panoptic(folder, LoadOptions(split="cameras:1,14,27"))
    ids = {f.camera_id for f in capture.frames}
    assert len(ids) == 27 and len(capture.frames) == 27 * 100
    assert {(f.camera.width, f.camera.height) for f in capture.frames} == {(640, 360)}
    assert {f.camera_id for f in capture.split("val")} == {"1", "14", "27"}
    assert all(f.mask_path is not None for f in capture.frames)
    # the dome's optical axes meet near one point, which every camera sees near its image centre
    first = [f.camera for f in capture.frames if f.camera.time == 0]
    A, b = np.zeros((3, 3)), np.zeros(3)
    for cam in first:
        d = cam.T_camera_world[2, :3]  # viewing direction in world
        P = np.eye(3) - np.outer(d, d)
        A, b = A + P, b + P @ cam.position
    centre = np.linalg.solve(A, b)
    for cam in first:
        x = cam.K @ (cam.T_camera_world[:3, :3] @ centre + cam.T_camera_world[:3, 3])
        assert x[2] > 0
        assert abs(x[0] / x[2] - 320) < 0.2 * 640 and abs(x[1] / x[2] - 180) < 0.2 * 360, cam.name
    first_two = Capture(root=capture.root, format=capture.format, frames=capture.frames[:2])
    frame = load_images(first_two, None, LoadOptions())[0]
    assert frame.rgb.shape == (360, 640, 3) and frame.mask.shape == (360, 640)
    assert 0 < float(frame.mask.mean()) < 0.5  # a few players on a court
