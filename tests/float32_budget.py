"""What float32 can promise, measured without float32: Monte Carlo arithmetic on a float64 reference.

A float32 kernel cannot match float64 to a fixed tolerance: ill-conditioned rows (a nearly singular 2D
covariance, a mean close to the near plane) lose most of their digits whatever the order of operations.
An earlier budget was "4x the error of the float32 torch reference", but that reference's own rounding
depends on the machine (MKL's and ATen's vector kernels, fused multiply-adds, reduction order), so the
same kernel passed on one CPU and failed on another. This budget is machine independent instead:

- the inputs are rounded to float32 once, as the kernel sees them;
- the reference then runs in float64 under `Float32Rounding`, a dispatch mode that multiplies the result
  of every rounding aten op (pointwise arithmetic, matmuls, reductions, forward and autograd's backward
  alike) by (1 + u delta), u = 2^-24 the float32 unit roundoff and delta uniform in [-1, 1] from a seeded
  generator: the rounding errors a float32 evaluation of the same formulas can make;
- per element, the spread is the largest deviation from the exact float64 result over a few such runs.

Everything is float64 with a fixed seed, so the spread is the same on every machine to ~1e-16. A float32
result is accepted element by element when |got - exact| <= factor * (spread + 4 u |exact|). The factor (8)
leaves about 2x over the worst ratio seen (3.6, over four Monte Carlo seeds, for the projection kernel and
for torch's own float32 evaluation alike); noise of 3e-6 relative (50 ulps) on the projection kernel's
outputs already fails.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

UNIT_ROUNDOFF = 2.0 ** -24  # float32, round to nearest
_aten = torch.ops.aten
# Pointwise ops whose float32 result is exact (a selection, a sign, a copy): no rounding to model.
_EXACT = {_aten.neg, _aten.abs, _aten.where, _aten.clamp, _aten.clamp_min, _aten.clamp_max, _aten.maximum,
          _aten.minimum, _aten.copy_, _aten._to_copy, _aten.clone, _aten.fill_, _aten.masked_fill,
          _aten.sign, _aten.ceil, _aten.floor, _aten.round, _aten.zeros_like, _aten.ones_like,
          _aten.threshold_backward, _aten.relu}
# Non-pointwise ops that round: products and sums.
_ROUNDING = {_aten.mm, _aten.bmm, _aten.addmm, _aten.baddbmm, _aten.mv, _aten.dot, _aten.sum, _aten.mean,
             _aten.prod, _aten.cumsum, _aten.linalg_vector_norm, _aten.norm}


class Float32Rounding(TorchDispatchMode):
    """Perturb every rounding float64 aten op's result by one float32 rounding error (seeded)."""

    def __init__(self, generator: torch.Generator):
        super().__init__()
        self.generator = generator

    def _rounds(self, func) -> bool:
        packet = func.overloadpacket
        return packet not in _EXACT and (torch.Tag.pointwise in func.tags or packet in _ROUNDING)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not self._rounds(func):
            return out
        mutable = func._schema.is_mutable

        def perturb(t):
            if not (isinstance(t, torch.Tensor) and t.dtype == torch.float64 and t.numel()):
                return t
            noise = torch.rand(t.shape, generator=self.generator, dtype=torch.float64, device=t.device)
            factor = 1.0 + UNIT_ROUNDOFF * (2.0 * noise - 1.0)
            return t.mul_(factor) if mutable else t * factor

        return tree_map(perturb, out)


def round_to_float32(x):
    """float64 tensor -> the float64 value of its float32 rounding (None passes through)."""
    return None if x is None else x.float().double()


def float32_spread(fn: Callable[..., Sequence[torch.Tensor]], args64: Sequence, exact: Sequence[torch.Tensor],
                   *, samples: int = 8, seed: int = 0) -> list[torch.Tensor]:
    """Per element, max |fn(float32-rounded args) under Float32Rounding - exact| over `samples` runs."""
    rounded = [round_to_float32(a) if isinstance(a, torch.Tensor) else a for a in args64]
    generator = torch.Generator().manual_seed(seed)
    spread = [torch.zeros_like(e, dtype=torch.float64) for e in exact]
    for _ in range(samples):
        with Float32Rounding(generator):
            outs = fn(*rounded)
        spread = [torch.maximum(s, (o.detach().double() - e.double()).abs())
                  for s, o, e in zip(spread, outs, exact)]
    return spread


def assert_float32_within(got32: Sequence[torch.Tensor], exact: Sequence[torch.Tensor],
                          spread: Sequence[torch.Tensor], names: Sequence[str], msg: str, factor: float = 8.0):
    """Each float32 element within `factor` x (its Monte Carlo spread + 4 ulps) of float64."""
    for name, a, e, s in zip(names, got32, exact, spread):
        e = e.double()
        floor = 4 * UNIT_ROUNDOFF * e.abs()
        ratio = (a.double().cpu() - e).abs() / (s + floor + 1e-300)
        worst = int(ratio.argmax()) if ratio.numel() else 0
        if ratio.numel() and ratio.flatten()[worst] > factor:
            idx = tuple(int(i) for i in torch.unravel_index(torch.tensor(worst), ratio.shape))
            raise AssertionError(f"{msg} {name}: float32 error {ratio[idx].item():.3g}x the float32 budget at "
                                 f"{idx}: {a[idx].item()!r} vs {e[idx].item()!r} "
                                 f"({int((ratio > factor).sum())} of {ratio.numel()} over)")
