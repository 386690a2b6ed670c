"""Headless output: video size and frame count, PNG numbering, depth unit, and atomic replacement."""

import json

import imageio.v2 as imageio
import imageio.v3 as iio
import numpy as np
import pytest

from ngfx.errors import InputError
from ngfx.render.output import FrameWriter, read_video_info, save_png, to_uint8


def _gradient(height: int, width: int, shift: int = 0) -> np.ndarray:
    """A smooth test image (H.264 keeps it close), different per `shift`."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                     np.full_like(x, (40 * shift) % 256)], -1).astype(np.uint8)


def _listing(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_to_uint8_clamps_and_rounds():
    out = to_uint8(np.array([[[-0.5, 0.5, 2.0], [np.nan, 1.0 / 255 * 0.49, 1.0 / 255 * 0.51]]]))
    np.testing.assert_array_equal(out, [[[0, 128, 255], [0, 0, 1]]])
    assert out.dtype == np.uint8
    with pytest.raises(ValueError):
        to_uint8(np.zeros((2, 2, 3), np.int32))


@pytest.mark.parametrize("width,height", [(32, 24), (33, 21)])
def test_mp4_has_requested_frames_and_even_size(tmp_path, width, height):
    path = tmp_path / "clip.mp4"
    with FrameWriter(path, fps=12) as writer:
        for k in range(7):
            writer.write(_gradient(height, width, k))
    info = read_video_info(path)
    # odd sizes are padded to even (documented on FrameWriter): 33x21 -> 34x22
    assert (info.frames, info.width, info.height) == (7, width + width % 2, height + height % 2)
    assert info.fps == pytest.approx(12)
    with imageio.get_reader(path, format="FFMPEG") as reader:
        decoded = reader.get_data(3).astype(int)
    expected = _gradient(height, width, 3).astype(int)
    assert np.abs(decoded[:height, :width] - expected).mean() < 4, "frames were rescaled or corrupted"
    if width % 2:  # the padding repeats the last column, it is not black
        assert np.abs(decoded[:height, -1] - expected[:, -1]).mean() < 6
    assert _listing(tmp_path) == ["clip.mp4"]


def test_folder_of_numbered_pngs_is_lossless(tmp_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (5, 7, 3), dtype=np.uint8) for _ in range(3)]
    with FrameWriter(tmp_path / "frames") as writer:
        writer.write(frames[0])
        writer.write(torch.from_numpy(frames[1]))
        writer.write(torch.from_numpy(frames[2].astype(np.float32) / 255))  # float in [0, 1]
    assert _listing(tmp_path / "frames") == ["frame_00000.png", "frame_00001.png", "frame_00002.png"]
    for k, frame in enumerate(frames):
        np.testing.assert_array_equal(iio.imread(tmp_path / "frames" / f"frame_{k:05d}.png"), frame)
    assert _listing(tmp_path) == ["frames"]


def test_single_png_takes_exactly_one_frame(tmp_path):
    image = _gradient(6, 9)
    with FrameWriter(tmp_path / "still.png") as writer:
        writer.write(image)
    np.testing.assert_array_equal(iio.imread(tmp_path / "still.png"), image)
    with pytest.raises(InputError, match="one frame"), FrameWriter(tmp_path / "two.png") as writer:
        writer.write(image)
        writer.write(image)
    with pytest.raises(InputError, match="no frames"), FrameWriter(tmp_path / "none.png"):
        pass
    assert _listing(tmp_path) == ["still.png"]


def test_depth_is_uint16_in_documented_unit(tmp_path):
    depth = np.array([[0.5, 1.2345, np.inf], [np.nan, -1.0, 100.0]])
    with FrameWriter(tmp_path / "frames", depth=True, depth_scale=0.01) as writer:
        writer.write(np.zeros((2, 3, 3), np.uint8), depth=depth)
    stored = iio.imread(tmp_path / "frames" / "depth_00000.png")
    assert stored.dtype == np.uint16
    np.testing.assert_array_equal(stored, [[50, 123, 0], [0, 0, 10000]])  # round(z / scale); 0 = no surface
    meta = json.loads((tmp_path / "frames" / "depth.json").read_text())
    assert meta["depth_scale"] == 0.01 and meta["empty_value"] == 0
    np.testing.assert_allclose(stored[stored > 0] * meta["depth_scale"], [0.5, 1.23, 100.0])


def test_depth_of_a_video_goes_to_a_sibling_folder(tmp_path):
    with FrameWriter(tmp_path / "clip.mp4", depth=True) as writer:
        for k in range(3):
            writer.write(_gradient(4, 6, k), depth=np.full((4, 6), 2.0 + k))
    assert _listing(tmp_path) == ["clip.mp4", "clip_depth"]
    assert _listing(tmp_path / "clip_depth") == ["depth.json"] + [f"depth_{k:05d}.png" for k in range(3)]
    assert iio.imread(tmp_path / "clip_depth" / "depth_00002.png")[0, 0] == 4000  # 4.0 / 1e-3
    with pytest.raises(ValueError, match="depth"), FrameWriter(tmp_path / "more", depth=True) as writer:
        writer.write(_gradient(4, 6))  # depth missing


class _Boom(Exception):
    pass


@pytest.mark.parametrize("name", ["clip.mp4", "still.png", "frames"])
def test_exception_leaves_no_file_and_no_temporary(tmp_path, name):
    with pytest.raises(_Boom), FrameWriter(tmp_path / name, depth=True) as writer:
        writer.write(_gradient(4, 6), depth=np.ones((4, 6)))
        raise _Boom
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("name", ["clip.mp4", "still.png", "frames"])
def test_exception_preserves_an_existing_output(tmp_path, name):
    path, count = tmp_path / name, 1 if name.endswith(".png") else 2
    with FrameWriter(path) as writer:
        writer.write(_gradient(4, 6, 1))
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(_Boom), FrameWriter(path) as writer:
        for k in range(count):
            writer.write(_gradient(4, 6, 2 + k))
        raise _Boom
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before
    with FrameWriter(path) as writer:  # a clean close does replace it
        for k in range(count):
            writer.write(_gradient(4, 6, 5 + k))
    assert {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} != before


def test_replacing_a_frame_folder_drops_stale_frames_but_never_a_users_folder(tmp_path):
    with FrameWriter(tmp_path / "frames") as writer:
        for k in range(3):
            writer.write(_gradient(2, 2, k))
    with FrameWriter(tmp_path / "frames") as writer:
        writer.write(_gradient(2, 2))
    assert _listing(tmp_path / "frames") == ["frame_00000.png"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(InputError, match="not a folder of frames"):
        FrameWriter(tmp_path / "mine")
    assert _listing(tmp_path / "mine") == ["notes.txt"]


def test_save_png_is_atomic_and_keeps_uint16(tmp_path):
    save_png(tmp_path / "d.png", np.array([[0, 65535]], np.uint16))
    assert iio.imread(tmp_path / "d.png").tolist() == [[0, 65535]]
    assert _listing(tmp_path) == ["d.png"]
    with pytest.raises(InputError, match="unsupported"):
        FrameWriter(tmp_path / "clip.gif")
