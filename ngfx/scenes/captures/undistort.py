"""Undistortion of images taken through the OpenCV radial-tangential lens model (REFERENCE.md 1.3), in numpy.

Model, on normalised camera coordinates x = X/Z, y = Y/Z with r^2 = x^2 + y^2 and
distortion = (k1, k2, p1, p2[, k3[, k4]]) (OpenCV / COLMAP OPENCV order; missing terms are zero):

    d   = 1 + k1 r^2 + k2 r^4 + k3 r^6 + k4 r^8       (k4 as nerfstudio reads transforms.json; 0 in OPENCV)
    x_d = x d + 2 p1 x y + p2 (r^2 + 2 x^2)
    y_d = y d + p1 (r^2 + 2 y^2) + 2 p2 x y
    pixel = (fx x_d + cx, fy y_d + cy)

The undistorted image is the pinhole image with the same K and size. Pixel coordinates follow ngfx's
convention (ngfx/scenes/camera.py): pixel (i, j) covers [i, i+1) x [j, j+1) and its centre is
(i + 0.5, j + 0.5); the maps below are in those continuous coordinates (OpenCV's `remap` would want them
minus 0.5). The fisheye model is not handled here.
"""

import functools

import numpy as np

__all__ = ["distort_normalized", "undistort_image", "undistort_map", "undistort_normalized"]


def _coefficients(distortion) -> tuple[float, ...]:
    """(k1, k2, p1, p2, k3, k4) from a 4-, 5- or 6-tuple."""
    d = tuple(float(v) for v in distortion)
    if len(d) not in (4, 5, 6):
        raise ValueError(f"distortion must be (k1, k2, p1, p2[, k3[, k4]]), got {len(d)} values")
    return d + (0.0,) * (6 - len(d))


def distort_normalized(xy: np.ndarray, distortion) -> np.ndarray:
    """The forward model: undistorted normalised coordinates [..., 2] -> distorted ones [..., 2] (float64)."""
    k1, k2, p1, p2, k3, k4 = _coefficients(distortion)
    xy = np.asarray(xy, dtype=np.float64)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    d = 1 + r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4)))
    return np.stack([x * d + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                     y * d + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y], axis=-1)


def undistort_normalized(xy_d: np.ndarray, distortion, *, iterations: int = 10) -> np.ndarray:
    """The inverse model by Newton's method from x = x_d: distorted [..., 2] -> undistorted [..., 2].

    Converges in a few steps for real lenses inside the image; far outside it (where the polynomial folds
    over) the result is meaningless, as it is for OpenCV's iterative inverse.
    """
    k1, k2, p1, p2, k3, k4 = _coefficients(distortion)
    target = np.asarray(xy_d, dtype=np.float64)
    xy = target.copy()
    for _ in range(iterations):
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        d = 1 + r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4)))
        d_r2 = k1 + r2 * (2 * k2 + r2 * (3 * k3 + r2 * 4 * k4))  # dd / d(r^2)
        ex = x * d + 2 * p1 * x * y + p2 * (r2 + 2 * x * x) - target[..., 0]
        ey = y * d + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y - target[..., 1]
        a = d + 2 * x * x * d_r2 + 2 * p1 * y + 6 * p2 * x  # Jacobian [[a, b], [c, e]]
        b = 2 * x * y * d_r2 + 2 * p1 * x + 2 * p2 * y
        c = b
        e = d + 2 * y * y * d_r2 + 6 * p1 * y + 2 * p2 * x
        det = a * e - b * c
        det = np.where(np.abs(det) < 1e-12, 1e-12, det)  # a fold of the model: stall rather than explode
        xy = np.stack([x - (e * ex - b * ey) / det, y - (a * ey - c * ex) / det], axis=-1)
    return xy


@functools.lru_cache(maxsize=16)
def _cached_map(focal_centre: tuple, distortion: tuple, width: int, height: int) -> tuple[np.ndarray, ...]:
    fx, fy, cx, cy = focal_centre
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    xy = np.stack([(u - cx) / fx, (v - cy) / fy], axis=-1)
    xy_d = distort_normalized(xy, distortion)
    map_x = (fx * xy_d[..., 0] + cx).astype(np.float32)
    map_y = (fy * xy_d[..., 1] + cy).astype(np.float32)
    map_x.flags.writeable = map_y.flags.writeable = False  # shared by every caller through the cache
    return map_x, map_y


def undistort_map(K: np.ndarray, distortion, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel of the undistorted (pinhole, same K) image, where to sample the distorted one.

    Returns read-only float32 (map_x, map_y), each [height, width], in continuous pixel coordinates
    (pixel centres at +0.5). Built once per (K, distortion, size) and cached. K's skew is ignored.
    """
    K = np.asarray(K, dtype=np.float64)
    assert K.shape == (3, 3), K.shape
    focal_centre = (float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]))
    return _cached_map(focal_centre, _coefficients(distortion), int(width), int(height))


def _sample_bilinear(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, fill: float) -> np.ndarray:
    """image [H, W, C] at continuous coordinates; points outside [0, W] x [0, H] get `fill`, and the outer
    half pixel repeats the edge (the image covers its whole area, not only its pixel centres)."""
    height, width = image.shape[:2]
    s, t = map_x.astype(np.float64) - 0.5, map_y.astype(np.float64) - 0.5
    x0, y0 = np.floor(s), np.floor(t)
    wx, wy = (s - x0)[..., None], (t - y0)[..., None]
    x0 = x0.astype(np.int64)
    y0 = y0.astype(np.int64)
    xa, xb = np.clip(x0, 0, width - 1), np.clip(x0 + 1, 0, width - 1)
    ya, yb = np.clip(y0, 0, height - 1), np.clip(y0 + 1, 0, height - 1)
    top = image[ya, xa] * (1 - wx) + image[ya, xb] * wx
    bottom = image[yb, xa] * (1 - wx) + image[yb, xb] * wx
    out = top * (1 - wy) + bottom * wy
    inside = (map_x >= 0) & (map_x <= width) & (map_y >= 0) & (map_y <= height)
    out[~inside] = fill
    return out


def undistort_image(image: np.ndarray, K: np.ndarray, distortion, *, fill: float = 0.0) -> np.ndarray:
    """The pinhole image (same K, same size) of a distorted [H, W, C] (or [H, W]) float image, sampled
    bilinearly. Pixels whose source lies outside the distorted image get `fill`. Returns the input's dtype."""
    image = np.asarray(image)
    assert image.ndim in (2, 3) and np.issubdtype(image.dtype, np.floating), (image.shape, image.dtype)
    planar = image.ndim == 2
    src = image[..., None] if planar else image
    map_x, map_y = undistort_map(K, distortion, src.shape[1], src.shape[0])
    out = _sample_bilinear(src.astype(np.float32, copy=False), map_x, map_y, fill).astype(image.dtype)
    return out[..., 0] if planar else out
