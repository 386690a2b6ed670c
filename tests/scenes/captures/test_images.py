"""Reading frame pixels: alpha compositing, downscale with K, 16-bit and grayscale files, and the
counting errors of load_images. Every image is a tiny file written by the test."""

import struct
import warnings
import zlib

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.captures import Capture, CaptureFrame, LoadOptions, load_frame_image, load_images

W, H = 8, 6


def _camera(width=W, height=H) -> Camera:
    K = [[10.0, 0, width / 2 + 0.3], [0, 11.0, height / 2 - 0.2], [0, 0, 1]]
    return Camera(K=K, width=width, height=height, T_camera_world=np.eye(4))


def _frame(path, camera=None, **kwargs) -> CaptureFrame:
    return CaptureFrame(image_path=path, camera=camera or _camera(), **kwargs)


def _png16(path, array):
    """A 16-bit PNG of a uint16 [H, W, C] array (Pillow cannot write 16-bit RGB)."""
    h, w, c = array.shape
    raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def test_rgba_composited_on_background_alpha_kept(tmp_path):
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
    iio.imwrite(tmp_path / "a.png", rgba)
    image = load_frame_image(_frame(tmp_path / "a.png"), LoadOptions(background=(0.0, 0.0, 1.0)), rgba=True)
    color, alpha = rgba[..., :3] / 255.0, rgba[..., 3] / 255.0
    expected = color * alpha[..., None] + np.array([0, 0, 1.0]) * (1 - alpha[..., None])
    np.testing.assert_allclose(image.rgb.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(image.alpha.numpy(), alpha, atol=1e-6)
    assert image.rgb.dtype == image.alpha.dtype == torch.float32 and image.rgb.shape == (H, W, 3)
    iio.imwrite(tmp_path / "b.png", rgba[..., :3])
    assert load_frame_image(_frame(tmp_path / "b.png"), rgba=False).alpha is None
    assert float(load_frame_image(_frame(tmp_path / "b.png"), rgba=True).alpha.min()) == 1.0


@pytest.mark.parametrize("size", [(8, 6), (9, 7)])  # (9, 7): the right column and bottom row are cropped
def test_downscale_area_averages_and_scales_K(tmp_path, size):
    width, height = size
    pixels = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    iio.imwrite(tmp_path / "a.png", pixels)
    camera = _camera(width, height)
    image = load_frame_image(_frame(tmp_path / "a.png", camera), LoadOptions(downscale=2))
    assert image.rgb.shape == (3, 4, 3) and (image.camera.width, image.camera.height) == (4, 3)
    blocks = pixels[:6, :8].reshape(3, 2, 4, 2, 3).mean(axis=(1, 3)) / 255
    np.testing.assert_allclose(image.rgb.numpy(), blocks, atol=1e-6)
    for i, j in [(0, 0), (3, 2), (7, 5)]:  # pixel centre (i+0.5, j+0.5) -> ((i+0.5)/2, (j+0.5)/2)
        ray = np.array([(i + 0.5 - camera.cx) / camera.fx, (j + 0.5 - camera.cy) / camera.fy, 1.0]) * 2.5
        x = image.camera.K @ ray
        np.testing.assert_allclose(x[:2] / x[2], [(i + 0.5) / 2, (j + 0.5) / 2], atol=1e-12)


def test_images_n_folder_only_scales_K(tmp_path):
    (tmp_path / "images_2").mkdir()
    iio.imwrite(tmp_path / "images_2" / "a.png", np.zeros((3, 4, 3), np.uint8))
    full = _camera()  # the full-resolution camera, file at 1/2
    image = load_frame_image(_frame(tmp_path / "images_2" / "a.png", full), LoadOptions(downscale=2))
    assert image.rgb.shape == (3, 4, 3)
    np.testing.assert_allclose(image.camera.K[:2], full.K[:2] / 2)
    small = full.resized(4, 3)  # a loader that already sized K for images_2/
    image = load_frame_image(_frame(tmp_path / "images_2" / "a.png", small), LoadOptions(downscale=2))
    assert image.rgb.shape == (3, 4, 3) and np.allclose(image.camera.K, small.K)


def test_sixteen_bit_and_grayscale(tmp_path):
    gray16 = (np.arange(H * W).reshape(H, W) * 1000).astype(np.uint16)
    iio.imwrite(tmp_path / "g16.png", gray16)
    image = load_frame_image(_frame(tmp_path / "g16.png"))
    np.testing.assert_allclose(image.rgb[..., 1].numpy(), gray16 / 65535, atol=1e-7)
    assert np.array_equal(image.rgb[..., 0], image.rgb[..., 2])
    rgb16 = (np.arange(H * W * 3).reshape(H, W, 3) * 400).astype(np.uint16)
    _png16(tmp_path / "c16.png", rgb16)
    np.testing.assert_allclose(load_frame_image(_frame(tmp_path / "c16.png")).rgb.numpy(), rgb16 / 65535,
                               atol=1 / 255)  # Pillow keeps 8 bits of 16-bit RGB
    iio.imwrite(tmp_path / "g8.jpg", np.full((H, W), 128, np.uint8))
    image = load_frame_image(_frame(tmp_path / "g8.jpg"))
    assert image.rgb.shape == (H, W, 3) and abs(float(image.rgb.mean()) - 128 / 255) < 0.01
    la = np.zeros((H, W, 2), np.uint8)
    la[..., 0], la[..., 1] = 255, 0  # white but fully transparent: the background shows
    iio.imwrite(tmp_path / "la.png", la)
    image = load_frame_image(_frame(tmp_path / "la.png"), LoadOptions(background=(0.0, 0.5, 0.0)), rgba=True)
    np.testing.assert_allclose(image.rgb[0, 0].numpy(), [0, 0.5, 0])
    assert float(image.alpha.max()) == 0


def test_mask_one_bit_png_follows_downscale(tmp_path):
    iio.imwrite(tmp_path / "a.jpg", np.zeros((H, W, 3), np.uint8))
    mask = np.zeros((H, W), bool)
    mask[:2, :2] = True
    Image.fromarray(mask).save(tmp_path / "m.png")
    image = load_frame_image(_frame(tmp_path / "a.jpg", mask_path=tmp_path / "m.png"))
    np.testing.assert_array_equal(image.mask.numpy(), mask.astype(np.float32))
    frame = _frame(tmp_path / "a.jpg", mask_path=tmp_path / "m.png")
    small = load_frame_image(frame, LoadOptions(downscale=2))
    assert small.mask.shape == (3, 4) and float(small.mask[0, 0]) == 1.0 and float(small.mask.sum()) == 1.0


def test_distortion_goes_through_undistort(tmp_path):
    undistort = pytest.importorskip("ngfx.scenes.captures.undistort")
    pixels = np.random.default_rng(2).integers(0, 256, (H, W, 3), dtype=np.uint8)
    iio.imwrite(tmp_path / "a.png", pixels)
    distortion = (0.05, 0.0, 0.0, 0.0)
    image = load_frame_image(_frame(tmp_path / "a.png", distortion=distortion))
    expected = undistort.undistort_image(pixels / np.float32(255), _camera().K, distortion)
    np.testing.assert_allclose(image.rgb.numpy(), expected, atol=1e-6)
    assert (image.camera.width, image.camera.height) == (W, H)


def _capture(tmp_path, sizes, missing=(), truncated=()) -> Capture:
    """Frames ims/<i>.jpg of camera id 'a', cameras sized like their files; some missing or cut short."""
    (tmp_path / "ims").mkdir()
    frames = []
    for i, (width, height) in enumerate(sizes):
        path = tmp_path / "ims" / f"{i}.jpg"
        frames.append(_frame(path, _camera(width, height), camera_id="a"))
        if i not in missing:
            iio.imwrite(path, np.zeros((height, width, 3), np.uint8))
        if i in truncated:
            path.write_bytes(path.read_bytes()[:200])
    return Capture(root=tmp_path, format="test", frames=tuple(frames))


def test_unreadable_files_counted(tmp_path):
    capture = _capture(tmp_path, [(W, H)] * 6, missing={1}, truncated={3, 4})
    with pytest.raises(InputError, match=r"^3 images could not be read, first: ims/1\.jpg \(missing\);"):
        load_images(capture, "train", LoadOptions())
    with pytest.warns(UserWarning, match=r"skipped 3 of 6 images: 3 images could not be read") as record:
        images = load_images(capture, "train", LoadOptions(skip_missing=True))
    assert len(record) == 1 and [im.frame.image_path.name for im in images] == ["0.jpg", "2.jpg", "5.jpg"]
    (tmp_path / "ims" / "1.jpg").write_bytes(b"")
    with pytest.raises(InputError, match=r"first: ims/1\.jpg \(empty file\)"):
        load_images(capture, "train", LoadOptions())
    with pytest.raises(InputError, match=r"truncated JPEG"):
        load_frame_image(capture.frames[3])


def test_inconsistent_sizes(tmp_path):
    capture = _capture(tmp_path, [(W, H), (W, H), (10, H), (W, H)])
    with pytest.raises(InputError, match=r"^1 image has inconsistent sizes, first: ims/2\.jpg \(10x6, other"):
        load_images(capture, "train", LoadOptions())
    wrong = Capture(root=tmp_path, format="test", frames=(_frame(capture.frames[2].image_path),))  # 8x6
    with pytest.raises(InputError, match=r"1 image has inconsistent sizes, first: ims/2\.jpg \(is 10x6, its"):
        load_images(wrong, None, LoadOptions())
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        images = load_images(capture, "train", LoadOptions(skip_missing=True))
    assert len(images) == 3 and len(record) == 1
    with pytest.raises(InputError, match="no usable images left"):
        load_images(wrong, None, LoadOptions(skip_missing=True))
