"""The 2D pan/zoom controller of the image viewer, without a window."""

import pytest

from ngfx.viewer.pan_zoom import PanZoom


def close(a, b, tol=1e-9):
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def test_starts_fitted_and_centred():
    view = PanZoom(400, 200, 800, 800)  # wide image in a square window: fitted by width
    assert view.zoom == pytest.approx(2.0)
    u0, v0, u1, v1 = view.region()
    assert close((u0, u1), (0.0, 1.0)) and v0 < 0 and v1 > 1  # letterboxed above and below
    assert close(view.uv_at(0, 400), (0.0, 0.5)) and close(view.uv_at(800, 400), (1.0, 0.5))


def test_pixel_centres_map_to_uv_centres_at_one_to_one():
    view = PanZoom(100, 50, 100, 50, zoom=1.0)
    assert close(view.uv_at(0.5, 0.5), (0.5 / 100, 0.5 / 50))  # window pixel 0 centre = image pixel 0 centre
    assert close(view.region(), (0.0, 0.0, 1.0, 1.0))


def test_scroll_keeps_the_point_under_the_pointer():
    view = PanZoom(640, 480, 640, 480)
    before = view.uv_at(100, 300)
    view.scroll(3, 100, 300)
    assert view.zoom == pytest.approx(1.25 ** 3)
    assert close(view.uv_at(100, 300), before)
    view.scroll(-2, 500, 50)
    assert view.zoom == pytest.approx(1.25)


def test_drag_moves_the_image_with_the_pointer():
    view = PanZoom(200, 100, 400, 200)  # zoom 2
    under = view.uv_at(50, 60)
    view.drag(30, -20)
    assert close(view.uv_at(80, 40), under)
    r0 = view.revision
    view.drag(1, 1)
    assert view.revision == r0 + 1


def test_zoom_and_centre_limits():
    view = PanZoom(100, 100, 100, 100, max_zoom=8.0)
    view.scroll(100)
    assert view.zoom == 8.0
    view.scroll(-100)
    assert view.zoom == pytest.approx(0.5)  # half the fitted view
    view.drag(1e6, -1e6)
    assert view.center == (0.0, 1.0)  # the image never leaves the window


def test_keys_fit_one_to_one_and_pan():
    view = PanZoom(1000, 500, 500, 250)
    assert view.key_down("_1") and view.zoom == 1.0
    assert view.key_down("right") and view.center[0] > 0.5
    assert view.key_down("plus") and view.zoom == pytest.approx(1.25)
    assert view.key_down("r") and view.zoom == pytest.approx(0.5) and view.center == (0.5, 0.5)
    assert not view.key_down("x")


def test_resize_keeps_a_fitted_view_fitted():
    view = PanZoom(300, 300, 300, 300)
    view.resize(600, 400)
    assert view.zoom == pytest.approx(400 / 300)
    view.scroll(1)
    view.resize(900, 900)
    assert view.zoom == pytest.approx(1.25 * 400 / 300)


def test_bad_sizes():
    with pytest.raises(ValueError, match="sizes"):
        PanZoom(0, 10, 10, 10)
