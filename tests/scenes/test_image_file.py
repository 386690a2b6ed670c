"""ngfx.scenes.image_file: PNG (8/16 bit), JPEG and EXR read as float32 RGB(A), written atomically, and every
bad input an InputError naming the file. Images are generated here (one optional test reads albert.exr)."""

import struct
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from ngfx.errors import InputError
from ngfx.scenes import image_file
from ngfx.scenes.image_file import load_image, save_image


def _rng(seed=0):
    return np.random.default_rng(seed)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _filtered(row: np.ndarray, prev: np.ndarray, bpp: int, kind: int) -> np.ndarray:
    """PNG filter `kind` applied to one row of bytes (the encoder's side, vectorised)."""
    x, b = row.astype(np.int64), prev.astype(np.int64)
    a = np.concatenate([np.zeros(bpp, np.int64), x[:-bpp]])
    c = np.concatenate([np.zeros(bpp, np.int64), b[:-bpp]])
    predictor = [0 * x, a, b, (a + b) // 2, _paeth(a, b, c)][kind]
    return ((x - predictor) % 256).astype(np.uint8)


def write_png16(path, samples: np.ndarray) -> None:
    """A 16-bit PNG of uint16 [H, W, C] (C 1..4) cycling through the five filter types row by row, so the
    decoder's unfiltering of 6- and 8-byte pixels is exercised."""
    height, width, channels = samples.shape
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = samples.astype(">u2").reshape(height, -1).view(np.uint8)
    prev, raw = np.zeros(rows.shape[1], np.uint8), []
    for y in range(height):
        kind = y % 5
        raw.append(bytes([kind]) + _filtered(rows[y], prev, 2 * channels, kind).tobytes())
        prev = rows[y]
    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(b"".join(raw)))
            + _png_chunk(b"IEND", b""))
    path.write_bytes(data)


@pytest.mark.parametrize("channels", [3, 4])
def test_png8_round_trip_is_exact(tmp_path, channels):
    values = _rng(1).integers(0, 256, (13, 17, channels)).astype(np.float32) / 255
    save_image(tmp_path / "a.png", values)
    image = load_image(tmp_path / "a.png")
    assert image.pixels.dtype == np.float32 and image.pixels.shape == (13, 17, channels)
    assert (image.width, image.height, image.channels) == (17, 13, channels)
    assert not image.is_linear and image.source_bits == 8
    np.testing.assert_array_equal(image.pixels, values)
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"], "a temporary file was left behind"


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("seed", [0, 1])
def test_png16_keeps_all_16_bits_through_every_filter(tmp_path, channels, seed):
    samples = _rng(seed).integers(0, 65536, (11, 9, channels)).astype(np.uint16)
    samples[0, 0] = 0x00FF  # low byte only: lost if the high byte alone were kept
    write_png16(tmp_path / "b.png", samples)
    image = load_image(tmp_path / "b.png")
    assert image.source_bits == 16, f"seed {seed}"
    expected = samples.astype(np.float32) / 65535
    expected = np.repeat(expected, 3, -1) if channels == 1 else expected
    np.testing.assert_array_equal(image.pixels, expected, err_msg=f"seed {seed}")


def test_gray_palette_and_gray_alpha_become_rgb_or_rgba(tmp_path):
    gray = _rng(2).integers(0, 256, (6, 7)).astype(np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "l.png")
    Image.fromarray(np.stack([gray, 255 - gray], -1), "LA").save(tmp_path / "la.png")
    indexed = Image.fromarray(gray % 4, "P")
    indexed.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    indexed.save(tmp_path / "p.png", transparency=1)  # palette entry 1 (red) fully transparent
    rgb, rgba, palette = (load_image(tmp_path / n).pixels for n in ("l.png", "la.png", "p.png"))
    np.testing.assert_array_equal(rgb, np.repeat(gray[..., None] / np.float32(255), 3, -1))
    assert rgba.shape == (6, 7, 4)
    np.testing.assert_array_equal(rgba[..., 3], (255 - gray) / np.float32(255))
    assert palette.shape == (6, 7, 4)
    np.testing.assert_array_equal(palette[..., 3], (gray % 4 != 1).astype(np.float32))
    np.testing.assert_array_equal(palette[..., 2], (gray % 4 == 3).astype(np.float32))


def test_jpeg_reads_close_to_what_was_written(tmp_path):
    y, x = np.mgrid[0:32, 0:40]
    values = np.stack([x / 39, y / 31, 0.5 + 0 * x], -1).astype(np.float32)
    Image.fromarray(np.rint(values * 255).astype(np.uint8)).save(tmp_path / "c.jpg", quality=98)
    Image.fromarray(np.rint(values[..., 0] * 255).astype(np.uint8), "L").save(tmp_path / "g.jpeg")
    image = load_image(tmp_path / "c.jpg")
    assert image.pixels.shape == (32, 40, 3) and not image.is_linear and image.source_bits == 8
    assert np.abs(image.pixels - values).max() < 0.05
    assert load_image(tmp_path / "g.jpeg").pixels.shape == (32, 40, 3)


@pytest.mark.parametrize("exr_dtype, bits", [("float32", 32), ("float16", 16)])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_exr_round_trip_keeps_linear_hdr_values(tmp_path, exr_dtype, bits, channels):
    pytest.importorskip("OpenEXR")
    values = _rng(3).uniform(-0.5, 20.0, (5, 8, channels)).astype(np.float32)
    save_image(tmp_path / "d.exr", values, exr_dtype=exr_dtype)
    image = load_image(tmp_path / "d.exr")
    assert image.is_linear and image.source_bits == bits
    expected = values.astype(exr_dtype).astype(np.float32)
    expected = np.repeat(expected, 3, -1) if channels == 1 else expected
    np.testing.assert_array_equal(image.pixels, expected)
    assert image.pixels.max() > 1 and image.pixels.min() < 0, "HDR values must not be clamped"
    assert [p.name for p in tmp_path.iterdir()] == ["d.exr"], "a temporary file was left behind"


def test_exr_with_nan_or_inf_is_refused_naming_the_pixel(tmp_path):
    pytest.importorskip("OpenEXR")
    values = np.ones((4, 6, 3), np.float32)
    values[2, 5, 1], values[3, 0, 0] = np.nan, np.inf
    save_image(tmp_path / "bad.exr", values)
    with pytest.raises(InputError, match=r"bad\.exr: 2 pixel values are NaN or infinite .*x=5, y=2"):
        load_image(tmp_path / "bad.exr")


def test_missing_openexr_tells_how_to_install_it(tmp_path, monkeypatch):
    (tmp_path / "e.exr").write_bytes(b"not really")
    monkeypatch.setitem(sys.modules, "OpenEXR", None)  # import OpenEXR now raises ImportError
    with pytest.raises(InputError, match=r"e\.exr: .*OpenEXR package; .*pip install OpenEXR"):
        load_image(tmp_path / "e.exr")
    with pytest.raises(InputError, match="pip install OpenEXR"):
        save_image(tmp_path / "f.exr", np.zeros((2, 2, 3)))


def test_bad_files_raise_one_line_input_errors(tmp_path):
    with pytest.raises(InputError, match=r"nope\.png: no such file"):
        load_image(tmp_path / "nope.png")
    (tmp_path / "x.bmp").write_bytes(b"BM")
    with pytest.raises(InputError, match=r"x\.bmp: unsupported image format '\.bmp'; use a \.png"):
        load_image(tmp_path / "x.bmp")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.png: is an empty file"):
        load_image(tmp_path / "empty.png")
    (tmp_path / "noise.jpg").write_bytes(_rng(4).integers(0, 256, 500).astype(np.uint8).tobytes())
    with pytest.raises(InputError, match=r"noise\.jpg: is not a readable JPEG file"):
        load_image(tmp_path / "noise.jpg")
    save_image(tmp_path / "whole.png", _rng(5).uniform(size=(40, 40, 3)))
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.png: is not a readable PNG file .*; the file is damaged"):
        load_image(tmp_path / "cut.png")
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(InputError, match="is a folder"):
        load_image(tmp_path / "folder.png")


def test_corrupt_exr_is_an_input_error(tmp_path):
    pytest.importorskip("OpenEXR")
    save_image(tmp_path / "whole.exr", _rng(6).uniform(size=(16, 16, 3)))
    data = (tmp_path / "whole.exr").read_bytes()
    (tmp_path / "cut.exr").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.exr: is not a readable EXR file"):
        load_image(tmp_path / "cut.exr")


def test_zero_size_image_is_refused(tmp_path, monkeypatch):
    save_image(tmp_path / "a.png", np.zeros((2, 2, 3)))
    monkeypatch.setattr(image_file, "_read_pillow", lambda path: (np.zeros((0, 5, 3), np.float32), 8))
    with pytest.raises(InputError, match=r"a\.png: the image has zero size \(5x0\)"):
        load_image(tmp_path / "a.png")
    with pytest.raises(ValueError, match="H, W > 0"):
        save_image(tmp_path / "b.png", np.zeros((0, 4, 3)))


def test_save_png_clips_and_replaces_atomically(tmp_path):
    save_image(tmp_path / "a.png", np.full((3, 4), 0.25))
    save_image(tmp_path / "a.png", np.array([[[-1.0, 0.5, 2.0]]]))  # over the old file
    np.testing.assert_array_equal(load_image(tmp_path / "a.png").pixels, np.float32([[[0, 128, 255]]]) / 255)
    with pytest.raises(InputError, match="a.jpg: cannot write '.jpg' images"):
        save_image(tmp_path / "a.jpg", np.zeros((2, 2, 3)))
    with pytest.raises(InputError, match="cannot write in this folder"):
        save_image(tmp_path / "missing" / "a.png", np.zeros((2, 2, 3)))


def test_real_exr_photograph_reads_as_linear_rgba(shared_data):
    pytest.importorskip("OpenEXR")
    image = load_image(shared_data / "albert" / "albert.exr")
    assert image.is_linear and image.pixels.shape[2] in (3, 4) and min(image.pixels.shape[:2]) >= 256
    assert 0.0 <= image.pixels.min() < image.pixels.max() <= 1.0 + 1e-6 and image.pixels[..., :3].std() > 0.05
