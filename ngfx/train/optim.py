"""Adam over named parameter groups, learning-rate schedules, and Adam-state surgery for densification.

One parameter group per named tensor (INRIA 3DGS, gsplat): group["name"] is the tensor's name and
group["schedule"] a plain dict describing its schedule, so `optimizer.state_dict()` holds only tensors,
numbers and strings and loads with `torch.load(weights_only=True)`. Schedules (REFERENCE 2.7):

| schedule                           | lr(step)                                                             |
|------------------------------------|----------------------------------------------------------------------|
| `constant(lr)`                     | lr                                                                   |
| `exponential_decay(i, f, T, D, m)` | delay(step) * exp((1 - t) log i + t log f), t = clip(step / T, 0, 1) |
|                                    | delay = m + (1 - m) sin(pi/2 clip(step / D, 0, 1)) if D > 0, else 1 |

`exponential_decay` is INRIA's `get_expon_lr_func` (the xyz rate, 1.6e-4 -> 1.6e-6 times the scene extent).

Densification changes the number of rows of a parameter. `replace_param`, `extend_param` and `reset_state`
swap the group's tensor and apply the same row operation to every per-element Adam buffer (exp_avg,
exp_avg_sq, max_exp_avg_sq), so each row keeps its own moments. Adam's `step` count is one per tensor: rows
that are added or reset start from zero moments but share the tensor's bias correction, as in INRIA's trainer.
"""

import dataclasses
import math

import torch

__all__ = [
    "Constant",
    "ExponentialDecay",
    "LeanAdam",
    "Schedule",
    "constant",
    "exponential_decay",
    "extend_param",
    "get_param",
    "make_adam",
    "replace_param",
    "reset_state",
    "step_schedules",
]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Constant:
    """The same learning rate at every step."""

    lr: float
    """Learning rate, > 0."""

    def __post_init__(self):
        if not (self.lr >= 0 and math.isfinite(self.lr)):
            raise ValueError(f"the learning rate must be finite and >= 0, got {self.lr}")

    def __call__(self, step: int) -> float:
        return self.lr


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExponentialDecay:
    """Log-linear decay from lr_init to lr_final over max_steps, with an optional sine warm-up (INRIA)."""

    lr_init: float
    """Learning rate at step 0 (before the warm-up factor), > 0."""
    lr_final: float
    """Learning rate from step max_steps on, > 0."""
    max_steps: int
    """Steps over which the rate decays, > 0."""
    delay_steps: int = 0
    """Warm-up length in steps; 0 = no warm-up."""
    delay_mult: float = 1.0
    """Warm-up factor at step 0, rising to 1 along a quarter sine over delay_steps."""

    def __post_init__(self):
        if not (self.lr_init > 0 and self.lr_final > 0 and math.isfinite(self.lr_init * self.lr_final)):
            raise ValueError(f"lr_init and lr_final must be finite and > 0, got {self.lr_init}, "
                             f"{self.lr_final}")
        if self.max_steps <= 0 or self.delay_steps < 0:
            raise ValueError(f"need max_steps > 0 and delay_steps >= 0, got {self.max_steps}, "
                             f"{self.delay_steps}")

    def __call__(self, step: int) -> float:
        if step < 0:
            return 0.0
        delay = 1.0
        if self.delay_steps > 0:
            ramp = min(max(step / self.delay_steps, 0.0), 1.0)
            delay = self.delay_mult + (1 - self.delay_mult) * math.sin(0.5 * math.pi * ramp)
        t = min(step / self.max_steps, 1.0)
        return delay * math.exp(math.log(self.lr_init) * (1 - t) + math.log(self.lr_final) * t)


Schedule = Constant | ExponentialDecay
_KINDS = {"constant": Constant, "exponential_decay": ExponentialDecay}


def constant(lr: float) -> Constant:
    """A constant learning rate."""
    return Constant(lr=lr)


def exponential_decay(lr_init: float, lr_final: float, max_steps: int, delay_steps: int = 0,
                      delay_mult: float = 1.0) -> ExponentialDecay:
    """INRIA's log-linear schedule (`get_expon_lr_func`); see the module table."""
    return ExponentialDecay(lr_init=lr_init, lr_final=lr_final, max_steps=max_steps, delay_steps=delay_steps,
                            delay_mult=delay_mult)


def _schedule_dict(schedule: "float | Schedule") -> dict:
    if isinstance(schedule, (int, float)) and not isinstance(schedule, bool):
        schedule = Constant(lr=float(schedule))
    kind = next((k for k, cls in _KINDS.items() if type(schedule) is cls), None)
    if kind is None:
        raise TypeError(f"a learning rate is a float, Constant or ExponentialDecay, got {type(schedule)}")
    return {"kind": kind, **dataclasses.asdict(schedule)}


def _lr_at(schedule: dict, step: int) -> float:
    fields = {k: v for k, v in schedule.items() if k != "kind"}
    return _KINDS[schedule["kind"]](**fields)(step)


def make_adam(named_params: dict[str, torch.Tensor], lrs: "dict[str, float | Schedule]",
              eps: float = 1e-15) -> torch.optim.Adam:
    """Adam with one group per named leaf tensor, each at its own learning rate or schedule (evaluated at step
    0; call `step_schedules` every step). eps = 1e-15 as INRIA: the default 1e-8 damps the means' tiny
    gradients."""
    if set(named_params) != set(lrs):
        raise ValueError(f"parameters {sorted(named_params)} and learning rates {sorted(lrs)} "
                         "name different groups")
    groups = []
    for name, tensor in named_params.items():
        if not (isinstance(tensor, torch.Tensor) and tensor.is_leaf and tensor.requires_grad):
            raise ValueError(f"parameter {name!r} must be a leaf tensor with requires_grad=True")
        schedule = _schedule_dict(lrs[name])
        groups.append({"params": [tensor], "name": name, "schedule": schedule, "lr": _lr_at(schedule, 0)})
    # On CUDA, torch's fused Adam kernel, one launch per group, called without the Optimizer.step machinery
    # (`LeanAdam`); elsewhere torch's default path.
    fused = all(g["params"][0].is_cuda and g["params"][0].is_floating_point() for g in groups) and bool(groups)
    return (LeanAdam if fused else torch.optim.Adam)(groups, lr=0.0, eps=eps, fused=fused or None)


class LeanAdam(torch.optim.Adam):
    """torch's fused Adam (fused=True), stepped group by group with `torch._fused_adam_` directly: one launch
    per group plus one for every step count, where `Adam.step` spends ~0.4 ms of host time on six groups
    (hooks, per-group state gathering, profiler ranges) before the same launches (issue 9). Same state
    layout and state_dict as Adam(fused=True), hence the same checkpoints; bit-identical updates (tested)."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        bad = [k for k in ("amsgrad", "maximize", "weight_decay", "differentiable", "capturable")
               if self.defaults.get(k)]
        if not self.defaults.get("fused") or bad:
            raise ValueError(f"LeanAdam needs fused=True and none of {bad}")

    @torch.no_grad()
    def step(self, closure=None):
        assert closure is None, "LeanAdam takes no closure"
        live = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:  # as Adam(fused=True) initialises it
                    state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                live.append((group, p, state))
        if not live:
            return
        torch._foreach_add_([state["step"] for _, _, state in live], 1)
        for group, p, state in live:
            beta1, beta2 = group["betas"]
            torch._fused_adam_([p], [p.grad], [state["exp_avg"]], [state["exp_avg_sq"]], [], [state["step"]],
                               lr=group["lr"], beta1=beta1, beta2=beta2, weight_decay=0.0, eps=group["eps"],
                               amsgrad=False, maximize=False, grad_scale=None, found_inf=None)


def step_schedules(optimizer: torch.optim.Optimizer, step: int) -> dict[str, float]:
    """Set every scheduled group's learning rate for `step`; returns the rates by group name."""
    lrs = {}
    for group in optimizer.param_groups:
        if "schedule" in group:
            group["lr"] = _lr_at(group["schedule"], step)
        lrs[group.get("name", str(len(lrs)))] = group["lr"]
    return lrs


def _group(optimizer: torch.optim.Optimizer, name: str) -> dict:
    for group in optimizer.param_groups:
        if group.get("name") == name:
            if len(group["params"]) != 1:
                raise ValueError(f"group {name!r} holds {len(group['params'])} tensors, expected 1")
            return group
    names = [g.get("name") for g in optimizer.param_groups]
    raise KeyError(f"no parameter group named {name!r} (groups: {names})")


def get_param(optimizer: torch.optim.Optimizer, name: str) -> torch.Tensor:
    """The tensor that group `name` currently optimises."""
    return _group(optimizer, name)["params"][0]


def _per_element(key: str, buffer, shape) -> bool:
    """Whether an Adam state entry has one value per parameter element (not the per-tensor step count)."""
    return key != "step" and isinstance(buffer, torch.Tensor) and buffer.shape == shape


def _swap(optimizer, name: str, new_param: torch.Tensor, row_op) -> torch.Tensor:
    """Put `new_param` (as a fresh leaf) in group `name` and map each per-element Adam buffer through row_op;
    shapes are checked before anything changes, so a failed call leaves the optimizer as it was."""
    group = _group(optimizer, name)
    old = group["params"][0]
    new = new_param.detach().requires_grad_(True)  # a new leaf object, so the state can be keyed by it
    state = dict(optimizer.state.get(old, {}))
    for key, buffer in state.items():
        if _per_element(key, buffer, old.shape):
            state[key] = row_op(buffer)
            if state[key].shape != new.shape:
                raise ValueError(f"{name}: Adam {key} would become {tuple(state[key].shape)}, "
                                 f"but the new tensor is {tuple(new.shape)}")
    optimizer.state.pop(old, None)
    if state:
        optimizer.state[new] = state
    group["params"][0] = new
    return new


def replace_param(optimizer: torch.optim.Optimizer, name: str, new_tensor: torch.Tensor,
                  keep=None) -> torch.Tensor:
    """Make `new_tensor` group `name`'s parameter and return it (a new leaf: store it in the model).

    `keep` says which old rows the new rows are: a bool mask over the old rows (pruning) or an int64 index,
    repeats allowed (splitting); the Adam moments are gathered the same way. keep=None: same shape, moments
    unchanged (new values for the same rows, e.g. an opacity reset; see `reset_state`)."""
    return _swap(optimizer, name, new_tensor, (lambda b: b) if keep is None else (lambda b: b[keep]))


def extend_param(optimizer: torch.optim.Optimizer, name: str, new_rows: torch.Tensor) -> torch.Tensor:
    """Append `new_rows` to group `name`'s parameter (cloning); the new rows start with zero Adam moments."""
    old = get_param(optimizer, name).detach()
    grown = torch.cat([old, new_rows.detach().to(old)])
    return _swap(optimizer, name, grown,
                 lambda b: torch.cat([b, b.new_zeros((new_rows.shape[0], *b.shape[1:]))]))


def reset_state(optimizer: torch.optim.Optimizer, name: str, rows_mask=None) -> None:
    """Zero the Adam moments of the rows of group `name` picked by a bool mask or index (all rows if None);
    the parameter tensor itself is kept."""
    state = optimizer.state.get(get_param(optimizer, name))
    if not state:
        return
    shape = get_param(optimizer, name).shape
    for key, buffer in state.items():
        if _per_element(key, buffer, shape):
            if rows_mask is None:
                buffer.zero_()
            else:
                buffer[rows_mask] = 0
