"""Adam for hash-grid tables and the MLPs behind them (REFERENCE 4.2; tiny-cuda-nn's recipe).

Defaults: beta1 0.9, beta2 0.99, eps 1e-15, lr 1e-2. Each parameter group is either

- sparse (`sparse=True`, the hash tables): the parameter's first dimension indexes rows (table entries, each
  with its F features). A row whose gradient is exactly zero in every feature was not looked up this step and
  is skipped: its value, m, v and its own step count stay bit-for-bit unchanged. Bias correction uses the
  row's own count, so an entry first touched at step 1000 takes a full first Adam step, not a 1e-2-damped one.
  No weight decay here (it would make every row's gradient non-zero);
- dense (the default, MLP weights): plain Adam with a per-tensor step count, and optional L2 regularisation
  (`weight_decay`, tcnn 1e-6) added to the gradient as weight_decay * param before the moments (Adam, not AdamW).

Per row r with step count n_r (after counting this step), gradient g_r and learning rate lr:
    m_r <- lerp(m_r, g_r, 1 - beta1),  v_r <- lerp(v_r, g_r^2, 1 - beta2)
    param_r <- param_r - lr / (1 - beta1^n_r) * m_r / (sqrt(v_r / (1 - beta2^n_r)) + eps)
Skipped rows get the same formulas with the lerp weights and the step size multiplied by 0, which leaves them
exactly as they were (x + 0 * (g - x) == x, and the denominator is >= eps > 0), so a step is about ten
elementwise torch ops over the table with no gather, scatter or host synchronisation.

State per parameter: "exp_avg", "exp_avg_sq" (like the parameter) and "step": a 0-d float32 count for dense
groups; for sparse groups "row_step", float32 [rows] (exact up to 2^24 steps). The per-row count is not named
"step" because torch's `Optimizer.load_state_dict` leaves a tensor called "step" on the device it was loaded
on, while every other tensor follows the parameter onto its device. `state_dict()` holds only tensors,
numbers, bools and strings, so it loads with torch.load(weights_only=True) (`ngfx.train.checkpoint`).
"""

import math

import torch

__all__ = ["SparseAdam"]


class SparseAdam(torch.optim.Optimizer):
    """Adam whose `sparse=True` groups skip rows with an all-zero gradient (module docstring).

    Not torch.optim.SparseAdam, which takes sparse-layout gradients and keeps one step count per tensor.
    Group keys: lr, betas, eps (> 0), weight_decay (L2, dense groups only), sparse, and any others (a "name"
    for logs). Sparse parameters are the fp32 (or fp64) master copies; their rows are dimension 0."""

    def __init__(self, params, lr: float = 1e-2, betas: tuple[float, float] = (0.9, 0.99), eps: float = 1e-15,
                 weight_decay: float = 0.0, sparse: bool = False):
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay, "sparse": sparse}
        super().__init__(params, defaults)
        for group in self.param_groups:
            _check_group(group)

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        _check_group(self.param_groups[-1])

    @torch.no_grad()
    def step(self, closure=None):
        """One Adam step over every parameter that has a gradient; returns closure() if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise ValueError("SparseAdam takes dense gradients (zeros mark the rows to skip)")
                if group["sparse"]:
                    self._sparse_step(p, group)
                else:
                    self._dense_step(p, group)
        return loss

    def _sparse_step(self, p: torch.Tensor, group: dict) -> None:
        state = self.state[p]
        if not state:
            state["row_step"] = torch.zeros(p.shape[0], dtype=torch.float32, device=p.device)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        beta1, beta2 = group["betas"]
        grad, m, v, count = p.grad, state["exp_avg"], state["exp_avg_sq"], state["row_step"]
        touched = (grad != 0) if grad.ndim == 1 else (grad != 0).flatten(1).any(dim=1)
        hit = touched.to(p.dtype)  # 1 for rows updated this step, 0 for skipped ones
        count.add_(hit)
        rows = (-1,) + (1,) * (p.ndim - 1)  # per-row factors broadcast over the features
        m.lerp_(grad, (hit * (1 - beta1)).view(rows))
        v.lerp_(grad * grad, (hit * (1 - beta2)).view(rows))
        n = count.to(p.dtype).clamp_min(1)  # rows never touched have n = 0; their step size is 0 anyway
        step_size = hit * group["lr"] / (1 - torch.pow(beta1, n))
        inv_bias2 = torch.rsqrt(1 - torch.pow(beta2, n))
        denom = (v.sqrt() * inv_bias2.view(rows)).add_(group["eps"])
        p.addcdiv_(m * step_size.view(rows), denom, value=-1.0)

    def _dense_step(self, p: torch.Tensor, group: dict) -> None:
        state = self.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        beta1, beta2 = group["betas"]
        grad, m, v, count = p.grad, state["exp_avg"], state["exp_avg_sq"], state["step"]
        if group["weight_decay"]:
            grad = grad.add(p, alpha=group["weight_decay"])  # L2 on the loss: its gradient joins the moments
        count.add_(1)
        m.lerp_(grad, 1 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        n = count.to(p.dtype)
        step_size = group["lr"] / (1 - torch.pow(beta1, n))
        denom = (v.sqrt() * torch.rsqrt(1 - torch.pow(beta2, n))).add_(group["eps"])
        p.addcdiv_(m * step_size, denom, value=-1.0)


def _check_group(group: dict) -> None:
    """ValueError for settings the update cannot honour."""
    beta1, beta2 = group["betas"]
    if not (group["lr"] >= 0 and math.isfinite(group["lr"])):
        raise ValueError(f"lr must be finite and >= 0, got {group['lr']}")
    if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
        raise ValueError(f"betas must lie in [0, 1), got {group['betas']}")
    if not group["eps"] > 0:
        raise ValueError(f"eps must be > 0 (skipped rows divide by it), got {group['eps']}")
    if group["weight_decay"] < 0 or (group["sparse"] and group["weight_decay"] != 0):
        raise ValueError(f"weight_decay must be >= 0 and 0 in sparse groups (it would touch every row), got "
                         f"{group['weight_decay']} in a {'sparse' if group['sparse'] else 'dense'} group")
    if group["sparse"]:
        for p in group["params"]:
            if p.ndim < 1 or not p.dtype.is_floating_point or p.dtype.itemsize < 4:
                raise ValueError(f"sparse parameters are fp32/fp64 tables with rows on dim 0, got "
                                 f"{p.dtype} {tuple(p.shape)}")
