"""The float32 budget itself (tests/float32_budget.py): it admits an honest float32 evaluation of an
ill-conditioned formula, rejects one with 170 ulps of extra noise, and is the same on every thread count."""

import pytest
import torch

from tests.float32_budget import assert_float32_within, float32_spread


def inverse_2x2(a, b, c):
    """Conic of a symmetric 2x2 matrix [[a, b], [b, c]]: ill-conditioned as det -> 0."""
    det = a * c - b * b
    return [c / det, -b / det, a / det]


def nearly_singular(n=500, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, generator=g, dtype=torch.float64) + 0.5
    c = torch.rand(n, generator=g, dtype=torch.float64) + 0.5
    gap = 10.0 ** (-6 * torch.rand(n, generator=g, dtype=torch.float64))  # det / (a c) down to 1e-6 ...
    gap[::2] = 0.5  # ... and well-conditioned rows, where extra noise shows
    b = torch.sqrt(a * c * (1 - gap)) * torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).double()
    return [a, b, c]


def test_honest_float32_passes_and_noise_fails():
    args = nearly_singular()
    exact = inverse_2x2(*args)
    spread = float32_spread(inverse_2x2, args, exact)
    names = ("xx", "xy", "yy")
    got32 = inverse_2x2(*[x.float() for x in args])
    assert_float32_within(got32, exact, spread, names, "float32 torch")
    rel = max(((g.double() - e).abs() / e.abs()).max().item() for g, e in zip(got32, exact))
    assert rel > 1e-3, "the case is not ill-conditioned: the test would not need a budget"
    noise = torch.Generator().manual_seed(1)
    noisy = [g * (1 + 1e-5 * (2 * torch.rand(g.shape, generator=noise) - 1)) for g in got32]
    with pytest.raises(AssertionError, match="float32 budget"):
        assert_float32_within(noisy, exact, spread, names, "noisy")


def test_spread_is_deterministic_and_thread_independent():
    args = nearly_singular(200, seed=3)
    exact = inverse_2x2(*args)
    threads = torch.get_num_threads()
    try:
        first = float32_spread(inverse_2x2, args, exact, seed=4)
        torch.set_num_threads(1)
        again = float32_spread(inverse_2x2, args, exact, seed=4)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    assert all((s > 0).all() for s in first)


def test_exact_ops_are_not_perturbed():
    x = torch.linspace(-2, 2, 101, dtype=torch.float64)

    def selections(v):
        return [v.abs(), torch.where(v > 0, v, -v), v.clamp(-1, 1), torch.maximum(v, -v)]

    exact = selections(x.float().double())
    assert all((s == 0).all() for s in float32_spread(selections, [x], exact))
    assert all((s > 0).any() for s in float32_spread(lambda v: [v * 3.0 + 1.0], [x], [x * 3.0 + 1.0]))
