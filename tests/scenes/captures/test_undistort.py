"""OpenCV-model undistortion: the forward model, its Newton inverse, the remap, and a checkerboard distorted
with the forward model and undistorted back."""

import numpy as np
import pytest

from ngfx.scenes.captures import undistort as ud

W, H = 64, 48
K = np.array([[40.0, 0, 31.0], [0, 42.0, 25.0], [0, 0, 1]])
BARREL = (-0.25, 0.08, 0.002, -0.003)
SEEDS = [0, 1, 2]


def test_forward_model_matches_the_reference_formula():
    k1, k2, p1, p2, k3 = 0.1, -0.02, 0.003, -0.001, 0.004
    x, y = 0.3, -0.4
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    expected = [x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y]
    np.testing.assert_allclose(ud.distort_normalized([x, y], (k1, k2, p1, p2, k3)), expected, rtol=1e-14)
    k4_only = ud.distort_normalized([x, y], (0.0, 0.0, 0.0, 0.0, 0.0, 0.5))  # k4 is the r^8 term
    np.testing.assert_allclose(k4_only, np.array([x, y]) * (1 + 0.5 * r2**4), rtol=1e-14)
    with pytest.raises(ValueError, match="k1, k2, p1, p2"):
        ud.distort_normalized([x, y], (0.1, 0.2))


@pytest.mark.parametrize("seed", SEEDS)
def test_point_round_trip(seed):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-0.7, 0.7, size=(200, 2))
    distortion = (*rng.uniform(-0.2, 0.2, 2), *rng.uniform(-0.01, 0.01, 2), rng.uniform(-0.02, 0.02))
    back = ud.undistort_normalized(ud.distort_normalized(xy, distortion), distortion)
    np.testing.assert_allclose(back, xy, atol=1e-10, err_msg=f"seed {seed}, distortion {distortion}")


def test_map_sends_each_pixel_centre_to_its_distorted_position():
    map_x, map_y = ud.undistort_map(K, BARREL, W, H)
    assert map_x.shape == map_y.shape == (H, W) and map_x.dtype == np.float32 and not map_x.flags.writeable
    assert ud.undistort_map(K, BARREL, W, H)[0] is map_x  # built once per camera
    xy_d = np.stack([(map_x - K[0, 2]) / K[0, 0], (map_y - K[1, 2]) / K[1, 1]], axis=-1)
    xy = ud.undistort_normalized(xy_d, BARREL)
    j, i = np.mgrid[0:H, 0:W]
    np.testing.assert_allclose(xy[..., 0] * K[0, 0] + K[0, 2], i + 0.5, atol=1e-3)  # float32 maps
    np.testing.assert_allclose(xy[..., 1] * K[1, 1] + K[1, 2], j + 0.5, atol=1e-3)


def test_zero_distortion_is_the_identity():
    image = np.random.default_rng(0).random((H, W, 3), dtype=np.float32)
    out = ud.undistort_image(image, K, (0.0, 0.0, 0.0, 0.0))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, image)
    np.testing.assert_array_equal(ud.undistort_image(image[..., 0], K, (0.0,) * 6), image[..., 0])


def pattern(u, v, hard: bool):
    """A checkerboard of 12-pixel squares in pinhole pixel coordinates (hard or sinusoidal)."""
    s = np.sin(2 * np.pi * u / 24) * np.sin(2 * np.pi * v / 24)
    return (s > 0).astype(np.float32) if hard else (0.5 + 0.5 * s).astype(np.float32)


def distorted_checkerboard(hard: bool) -> np.ndarray:
    """What the lens saw: each distorted pixel centre shows the pattern at its undistorted position."""
    v, u = np.mgrid[0:H, 0:W] + 0.5
    xy_d = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1]], axis=-1)
    xy = ud.undistort_normalized(xy_d, BARREL)
    return pattern(xy[..., 0] * K[0, 0] + K[0, 2], xy[..., 1] * K[1, 1] + K[1, 2], hard)[..., None]


def test_undistorting_a_distorted_checkerboard_recovers_it():
    v, u = np.mgrid[0:H, 0:W] + 0.5
    map_x, map_y = ud.undistort_map(K, BARREL, W, H)
    interior = (map_x > 1) & (map_x < W - 1) & (map_y > 1) & (map_y < H - 1)
    assert interior.mean() > 0.9  # barrel distortion: the pinhole view lies mostly inside the photo
    smooth = ud.undistort_image(distorted_checkerboard(hard=False), K, BARREL)[..., 0]
    err = np.abs(smooth - pattern(u, v, hard=False))[interior]
    assert err.max() < 0.03, err.max()  # bilinear sampling of a 24-pixel period
    raw_err = np.abs(distorted_checkerboard(hard=False)[..., 0] - pattern(u, v, hard=False))[interior]
    assert raw_err.max() > 0.3  # the distortion is large enough for the test to mean something
    # A hard checkerboard comes back exactly wherever the pattern is constant within 2 pixels (bilinear
    # sampling only blends the source pixels next to a square's edge).
    hard = ud.undistort_image(distorted_checkerboard(hard=True), K, BARREL)[..., 0]
    offsets = [(du, dv) for du in (-2, 0, 2) for dv in (-2, 0, 2)]
    flat = np.all([pattern(u + du, v + dv, hard=True) == pattern(u, v, hard=True) for du, dv in offsets],
                  axis=0)
    assert (flat & interior).mean() > 0.4
    np.testing.assert_allclose(hard[flat & interior], pattern(u, v, hard=True)[flat & interior], atol=1e-6)


def test_pixels_from_outside_the_photo_get_the_fill_value():
    pincushion = (0.6, 0.2, 0.0, 0.0)
    image = np.ones((H, W, 2), np.float64)
    out = ud.undistort_image(image, K, pincushion, fill=-1.0)
    assert out.dtype == np.float64 and out.shape == image.shape
    assert out[0, 0, 0] == -1.0 and out[H // 2, W // 2, 1] == 1.0
    map_x, map_y = ud.undistort_map(K, pincushion, W, H)
    outside = (map_x < 0) | (map_x > W) | (map_y < 0) | (map_y > H)
    np.testing.assert_array_equal(out[..., 0] == -1.0, outside)
