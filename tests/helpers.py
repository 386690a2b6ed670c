"""Test helpers shared by every package's tests."""

import torch


def assert_close(actual: torch.Tensor, expected: torch.Tensor, *, rtol: float = 1e-5, atol: float = 1e-6, msg=""):
    """torch.testing.assert_close that also prints the worst element, its index and both values."""
    actual, expected = torch.as_tensor(actual), torch.as_tensor(expected)
    assert actual.shape == expected.shape, f"{msg}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    same = actual.double() == expected.double()  # equal infinities count as equal
    diff = torch.where(same, torch.zeros((), dtype=torch.float64), (actual.double() - expected.double()).abs())
    diff = torch.nan_to_num(diff, nan=float("inf"))
    bound = atol + rtol * expected.double().abs()
    if diff.numel() and not bool((diff <= bound).all()):
        worst = int((diff - bound).argmax())
        idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), diff.shape))
        raise AssertionError(f"{msg}: max abs err {diff.max().item():.3g} at {idx}: "
                             f"{actual[idx].item()!r} vs {expected[idx].item()!r} "
                             f"({int((diff > bound).sum())} of {diff.numel()} out of tolerance)")
