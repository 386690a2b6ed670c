"""Quaternion (wxyz) and TRS helpers, and the lossless `Transform`."""

import math

import numpy as np
import pytest

from ngfx.errors import InputError
from ngfx.scenes.transforms import (
    Transform,
    matrix_to_trs,
    quat_from_axis_angle,
    quat_from_matrix,
    quat_multiply,
    quat_normalize,
    quat_slerp,
    quat_to_matrix,
    transform_bounds,
    trs_to_matrix,
)

SEEDS = [0, 1, 2, 3, 4, 5, 6, 7]


def random_quat(rng) -> np.ndarray:
    return quat_normalize(rng.normal(size=4))


def angle_between(a, b) -> float:
    """Rotation angle (radians) taking quaternion a to b."""
    return 2 * math.acos(min(1.0, abs(float(np.dot(quat_normalize(a), quat_normalize(b))))))


@pytest.mark.parametrize("seed", SEEDS)
def test_matrix_is_a_rotation_and_round_trips(seed):
    q = random_quat(np.random.default_rng(seed))
    R = quat_to_matrix(q)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12, err_msg=f"seed {seed}")
    assert np.linalg.det(R) == pytest.approx(1.0)
    back = quat_from_matrix(R)
    assert back[0] >= 0
    np.testing.assert_allclose(back, q if q[0] >= 0 else -q, atol=1e-12, err_msg=f"seed {seed}")


def test_quat_from_matrix_handles_every_branch():
    for axis, angle in [((1, 0, 0), 3.1), ((0, 1, 0), 3.0), ((0, 0, 1), 3.14), ((1, 1, 0), 0.2)]:
        q = quat_from_axis_angle(axis, angle)
        np.testing.assert_allclose(quat_to_matrix(quat_from_matrix(quat_to_matrix(q))), quat_to_matrix(q), atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_multiply_composes_rotations(seed):
    rng = np.random.default_rng(seed)
    a, b = random_quat(rng), random_quat(rng)
    np.testing.assert_allclose(quat_to_matrix(quat_multiply(a, b)), quat_to_matrix(a) @ quat_to_matrix(b),
                               atol=1e-12, err_msg=f"seed {seed}")


def test_axis_angle_is_right_handed():
    q = quat_from_axis_angle([0, 0, 2], math.pi / 2)  # axis length does not matter
    np.testing.assert_allclose(quat_to_matrix(q) @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(q, [math.cos(math.pi / 4), 0, 0, math.sin(math.pi / 4)], atol=1e-12)


def test_slerp_endpoints_midpoint_and_shortest_path():
    a = np.array([1.0, 0, 0, 0])
    b = quat_from_axis_angle([0, 1, 0], math.radians(120))
    np.testing.assert_allclose(quat_slerp(a, b, 0.0), a, atol=1e-12)
    np.testing.assert_allclose(quat_slerp(a, b, 1.0), b, atol=1e-12)
    mid = quat_slerp(a, b, 0.5)
    assert angle_between(a, mid) == pytest.approx(math.radians(60))
    # -b is the same rotation; slerp must still take the 120-degree way, not the 240-degree one.
    mid_flipped = quat_slerp(a, -b, 0.5)
    assert angle_between(a, mid_flipped) == pytest.approx(math.radians(60))
    np.testing.assert_allclose(quat_to_matrix(mid_flipped), quat_to_matrix(mid), atol=1e-12)
    tiny = quat_from_axis_angle([1, 0, 0], 1e-6)  # the nearly-parallel branch
    assert np.linalg.norm(quat_slerp(a, tiny, 0.5)) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_trs_round_trip(seed):
    rng = np.random.default_rng(seed)
    t, q, s = rng.uniform(-3, 3, 3), random_quat(rng), rng.uniform(0.2, 3, 3)
    M = trs_to_matrix(t, q, s)
    np.testing.assert_allclose(M[:3, :3] @ [1, 0, 0], s[0] * quat_to_matrix(q)[:, 0], atol=1e-12)
    t2, q2, s2 = matrix_to_trs(M)
    np.testing.assert_allclose(t2, t, atol=1e-12)
    np.testing.assert_allclose(s2, s, atol=1e-12)
    np.testing.assert_allclose(trs_to_matrix(t2, q2, s2), M, atol=1e-12, err_msg=f"seed {seed}")


def test_mirroring_matrix_decomposes_with_negative_x_scale():
    M = trs_to_matrix([1, 2, 3], quat_from_axis_angle([0, 1, 0], 0.3), [1.0, 2.0, -3.0])
    t, q, s = matrix_to_trs(M)
    assert s[0] < 0
    np.testing.assert_allclose(trs_to_matrix(t, q, s), M, atol=1e-12)
    with pytest.raises(ValueError):
        matrix_to_trs(np.diag([1.0, 0.0, 1.0, 1.0]))


def test_transform_bounds_of_a_rotated_box():
    T = trs_to_matrix([10, 0, 0], quat_from_axis_angle([0, 1, 0], math.pi / 4), [1, 1, 1])
    lo, hi = transform_bounds(T, [-1, -1, -1], [1, 1, 1])
    r = math.sqrt(2)
    np.testing.assert_allclose(lo, [10 - r, -1, -r], atol=1e-12)
    np.testing.assert_allclose(hi, [10 + r, 1, r], atol=1e-12)


def test_transform_keeps_the_form_it_was_given():
    only_t = Transform.from_dict({"translation": [1, 2, 3]})
    assert only_t.to_dict() == {"translation": [1.0, 2.0, 3.0]}
    np.testing.assert_allclose(only_t.to_matrix()[:3, 3], [1, 2, 3])
    M = trs_to_matrix([1, 2, 3], quat_from_axis_angle([1, 0, 0], 0.5), [2, 2, 2])
    as_matrix = Transform.from_matrix(M)
    assert set(as_matrix.to_dict()) == {"matrix"}
    np.testing.assert_allclose(Transform.from_dict(as_matrix.to_dict()).to_matrix(), M, atol=1e-15)
    assert Transform().to_dict() == {}
    np.testing.assert_allclose(Transform().to_matrix(), np.eye(4))
    # An unnormalised rotation is stored as written (lossless) but used normalised.
    raw = Transform(rotation_wxyz=(2.0, 0.0, 0.0, 0.0))
    assert raw.to_dict() == {"rotation_wxyz": [2.0, 0.0, 0.0, 0.0]}
    np.testing.assert_allclose(raw.to_matrix(), np.eye(4))


@pytest.mark.parametrize("d, field", [
    ({"translation": [1, 2]}, "translation"),
    ({"scale": [1, float("nan"), 1]}, "scale"),
    ({"rotation_wxyz": [0, 0, 0, 0]}, "rotation_wxyz"),
    ({"rotation_wxyz": [1, 0, 0, "x"]}, "rotation_wxyz"),
    ({"matrix": [[1, 0, 0, 0]] * 4}, "matrix[3]"),
    ({"matrix": np.eye(4).tolist(), "scale": [1, 1, 1]}, "matrix"),
    ({"position": [0, 0, 0]}, "position"),
])
def test_bad_transforms_name_the_field(d, field):
    with pytest.raises(InputError) as info:
        Transform.from_dict(d)
    assert info.value.field == field, str(info.value)
