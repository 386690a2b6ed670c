"""Keyframe tracks: LINEAR, STEP and CUBICSPLINE (Catmull-Rom), slerp shortest path, clamping, errors."""

import itertools
import math

import numpy as np
import pytest

from ngfx.errors import InputError
from ngfx.scenes.tracks import Track
from ngfx.scenes.transforms import quat_from_axis_angle, quat_normalize


def rotation_angle(q) -> float:
    return 2 * math.acos(min(1.0, abs(float(quat_normalize(q)[0]))))


def test_linear_translation_and_clamping():
    track = Track("translation", [1.0, 3.0], [[0, 0, 0], [2, 4, -6]])
    np.testing.assert_allclose(track.evaluate(2.0), [1, 2, -3])
    np.testing.assert_allclose(track.evaluate(2.5), [1.5, 3, -4.5])
    np.testing.assert_allclose(track.evaluate(-10.0), [0, 0, 0])  # before the first key
    np.testing.assert_allclose(track.evaluate(1.0), [0, 0, 0])
    np.testing.assert_allclose(track.evaluate(3.0), [2, 4, -6])
    np.testing.assert_allclose(track.evaluate(99.0), [2, 4, -6])  # after the last key


def test_step_holds_the_previous_key():
    track = Track("scale", [0.0, 1.0, 2.0], [[1, 1, 1], [2, 2, 2], [3, 3, 3]], "STEP")
    np.testing.assert_allclose(track.evaluate(0.999), [1, 1, 1])
    np.testing.assert_allclose(track.evaluate(1.0), [2, 2, 2])
    np.testing.assert_allclose(track.evaluate(1.5), [2, 2, 2])
    np.testing.assert_allclose(track.evaluate(5.0), [3, 3, 3])


def test_single_key_is_constant():
    track = Track("translation", [2.0], [[1, 2, 3]], "CUBICSPLINE")
    for t in (-1.0, 2.0, 7.0):
        np.testing.assert_allclose(track.evaluate(t), [1, 2, 3])


def test_cubic_passes_through_keys_and_reproduces_lines():
    times = [0.0, 0.5, 2.0, 3.0]  # uneven spacing
    line = [[2 * t, -t, 1.0] for t in times]
    track = Track("translation", times, line, "CUBICSPLINE")
    for t in np.linspace(-0.5, 3.5, 17):
        tc = min(max(t, 0.0), 3.0)
        np.testing.assert_allclose(track.evaluate(t), [2 * tc, -tc, 1.0], atol=1e-12, err_msg=f"t={t}")


def test_cubic_is_smooth_through_an_interior_key():
    track = Track("translation", [0.0, 1.0, 3.0], [[0, 0, 0], [1, 2, 0], [0, 1, 5]], "CUBICSPLINE")
    np.testing.assert_allclose(track.evaluate(1.0), [1, 2, 0])
    h = 1e-6
    left = (track.evaluate(1.0) - track.evaluate(1.0 - h)) / h
    right = (track.evaluate(1.0 + h) - track.evaluate(1.0)) / h
    np.testing.assert_allclose(left, right, atol=1e-4)
    # The Catmull-Rom tangent at the middle key is (p2 - p0) / (t2 - t0) per second.
    np.testing.assert_allclose(right, np.array([0, 1, 5]) / 3.0, atol=1e-4)
    # ...and it differs from linear interpolation between the keys.
    assert np.abs(track.evaluate(2.0) - [0.5, 1.5, 2.5]).max() > 0.05


def test_linear_rotation_slerps_the_short_way():
    start = np.array([1.0, 0, 0, 0])
    end = -quat_from_axis_angle([0, 1, 0], math.radians(90))  # same rotation, opposite hemisphere
    track = Track("rotation_wxyz", [0.0, 2.0], [start, end])
    mid = track.evaluate(1.0)
    assert np.linalg.norm(mid) == pytest.approx(1.0)
    assert rotation_angle(mid) == pytest.approx(math.radians(45))
    assert abs(mid[2]) > 0  # about +/-y, not some other axis
    np.testing.assert_allclose(abs(mid[2]), math.sin(math.radians(22.5)), atol=1e-12)


def test_cubic_rotation_stays_unit_and_hits_keys():
    keys = [quat_from_axis_angle([0, 0, 1], a) for a in (0.0, 1.0, 2.0, 2.5)]
    keys[2] = -keys[2]  # a hemisphere flip in the data must not make a detour
    track = Track("rotation_wxyz", [0, 1, 2, 3], keys, "CUBICSPLINE")
    for t in np.linspace(0, 3, 13):
        assert np.linalg.norm(track.evaluate(t)) == pytest.approx(1.0)
    angles = [rotation_angle(track.evaluate(t)) for t in np.linspace(0, 3, 31)]
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(angles))  # monotone: no detour
    assert angles[10] == pytest.approx(1.0)


def test_visible_track_steps():
    track = Track("visible", [0.0, 1.0, 2.0], [True, False, True], "LINEAR")
    assert [track.evaluate(t) for t in (-1, 0.5, 1.0, 1.9, 2.0, 9)] == [True, True, False, False, True, True]


def test_round_trip_through_dict():
    track = Track("rotation_wxyz", [0, 4], [[1, 0, 0, 0], [0, 0, 1, 0]])
    again = Track.from_dict(track.to_dict())
    assert again == track
    assert again.to_dict()["interpolation"] == "LINEAR"


@pytest.mark.parametrize("d, field", [
    ({"property": "color", "times": [0], "values": [[1, 1, 1]]}, "property"),
    ({"property": "scale", "times": [0, 0], "values": [[1, 1, 1]] * 2}, "times"),
    ({"property": "scale", "times": [1, 0], "values": [[1, 1, 1]] * 2}, "times"),
    ({"property": "scale", "times": [], "values": []}, "times"),
    ({"property": "scale", "times": [0, float("nan")], "values": [[1, 1, 1]] * 2}, "times"),
    ({"property": "scale", "times": [0, 1], "values": [[1, 1, 1]]}, "values"),
    ({"property": "scale", "times": [0, 1], "values": [[1, 1, 1], [1, 1]]}, "values[1]"),
    ({"property": "rotation_wxyz", "times": [0], "values": [[0, 0, 0, 0]]}, "values[0]"),
    ({"property": "visible", "times": [0], "values": [1]}, "values"),
    ({"property": "scale", "times": [0], "values": [[1, 1, 1]], "interpolation": "BEZIER"}, "interpolation"),
    ({"times": [0], "values": [[1, 1, 1]]}, "property"),
    ({"property": "scale", "times": [0], "values": [[1, 1, 1]], "loop": True}, "loop"),
])
def test_bad_tracks_name_the_field(d, field):
    with pytest.raises(InputError) as info:
        Track.from_dict(d)
    assert info.value.field == field, str(info.value)
