"""The 2D image viewer under a real (or Xvfb) display: scripted pan and zoom, screenshot = a fresh render."""

import os

import imageio.v3 as iio
import numpy as np
import pytest

from ngfx.viewer.image_app import run_image_viewer

needs_display = pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="no X display: run under xvfb-run -a")


def uv_colours(region, width, height):
    """An analytic 'field': red = u, green = v over the region, blue marks outside the image."""
    u0, v0, u1, v1 = region
    u = u0 + (u1 - u0) * (np.arange(width) + 0.5) / width
    v = v0 + (v1 - v0) * (np.arange(height) + 0.5) / height
    uu, vv = np.meshgrid(u, v)
    outside = (uu < 0) | (uu > 1) | (vv < 0) | (vv > 1)
    rgb = np.stack([np.clip(uu, 0, 1), np.clip(vv, 0, 1), outside * 1.0], -1)
    return np.rint(rgb * 255).astype(np.uint8)


@needs_display
def test_scripted_zoom_and_pan_screenshot(tmp_path):
    seen = {}

    def script(k, view):
        if k == 1:
            view.scroll(4, 20, 10)  # zoom in about a point near the top-left
        if k == 2:
            view.drag(-15, 5)
        seen["region"], seen["size"] = view.region(), (view.window_width, view.window_height)

    shot = tmp_path / "shot.png"
    run_image_viewer(uv_colours, (200, 100), window_size=(160, 120), screenshot=str(shot), frames=4,
                     on_frame=script)
    image = iio.imread(shot)
    width, height = seen["size"]
    assert image.shape == (height, width, 3) and (width, height) == (160, 80)  # the image's 2:1 aspect
    u0, v0, u1, v1 = seen["region"]
    assert u1 - u0 < 0.5, "not zoomed in"
    assert np.array_equal(image, uv_colours(seen["region"], width, height))
    assert image[..., 0].std() > 5 and image[..., 1].std() > 5  # a gradient, not a flat frame
