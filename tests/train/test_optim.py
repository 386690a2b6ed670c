"""Adam over named groups: schedules, and Adam-state surgery whose moment rows follow the parameter rows."""

import math

import pytest
import torch

from ngfx.train.optim import (
    constant,
    exponential_decay,
    extend_param,
    get_param,
    make_adam,
    replace_param,
    reset_state,
    step_schedules,
)


def inria_expon_lr(step, lr_init, lr_final, lr_delay_steps=0, lr_delay_mult=1.0, max_steps=1000000):
    """INRIA 3DGS utils/general_utils.py get_expon_lr_func, transcribed (numpy replaced by math)."""
    if step < 0 or (lr_init == 0.0 and lr_final == 0.0):
        return 0.0
    if lr_delay_steps > 0:
        ramp = min(max(step / lr_delay_steps, 0), 1)
        delay_rate = lr_delay_mult + (1 - lr_delay_mult) * math.sin(0.5 * math.pi * ramp)
    else:
        delay_rate = 1.0
    t = min(max(step / max_steps, 0), 1)
    return delay_rate * math.exp(math.log(lr_init) * (1 - t) + math.log(lr_final) * t)


@pytest.mark.parametrize("delay_steps, delay_mult", [(0, 1.0), (0, 0.01), (500, 0.01)])
def test_exponential_decay_matches_inria(delay_steps, delay_mult):
    s = exponential_decay(1.6e-4, 1.6e-6, 30_000, delay_steps, delay_mult)
    for step in (0, 1, 250, 499, 500, 15_000, 29_999, 30_000, 40_000):
        expected = inria_expon_lr(step, 1.6e-4, 1.6e-6, delay_steps, delay_mult, 30_000)
        assert s(step) == pytest.approx(expected, rel=1e-12), step
    assert s(15_000) == pytest.approx(1.6e-5, rel=1e-9)  # log-linear: the geometric mean halfway
    assert constant(0.05)(123) == 0.05


def test_schedules_reject_bad_values():
    for bad in [(0.0, 1e-6, 10), (1e-4, -1.0, 10), (1e-4, 1e-6, 0)]:
        with pytest.raises(ValueError):
            exponential_decay(*bad)
    with pytest.raises(ValueError):
        constant(-1.0)


def leaf(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).requires_grad_(True)


def test_make_adam_groups_and_step_schedules():
    params = {"means": leaf(5, 3), "opacity_logits": leaf(5)}
    opt = make_adam(params, {"means": exponential_decay(1e-2, 1e-4, 100), "opacity_logits": 0.05})
    assert [g["name"] for g in opt.param_groups] == ["means", "opacity_logits"]
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-2) and opt.defaults["eps"] == 1e-15
    assert step_schedules(opt, 50) == pytest.approx({"means": 1e-3, "opacity_logits": 0.05})
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert get_param(opt, "means") is params["means"]
    with pytest.raises(ValueError, match="name different groups"):
        make_adam(params, {"means": 1.0})
    with pytest.raises(ValueError, match="leaf"):
        make_adam({"x": torch.zeros(3)}, {"x": 1.0})


def adam_pair(keep):
    """The same Adam run on a full parameter and on its rows `keep` from the start; returns both optimizers
    after 3 steps with matching gradients."""
    full, grads = leaf(6, 2, seed=1), [torch.randn(6, 2, generator=torch.Generator().manual_seed(10 + i))
                                        for i in range(6)]
    sub = full.detach()[keep].clone().requires_grad_(True)
    opt_full, opt_sub = make_adam({"x": full}, {"x": 0.1}), make_adam({"x": sub}, {"x": 0.1})
    for g in grads[:3]:
        for opt, rows in ((opt_full, slice(None)), (opt_sub, keep)):
            get_param(opt, "x").grad = g[rows].clone()
            opt.step()
    return opt_full, opt_sub, grads[3:]


@pytest.mark.parametrize("keep", [torch.tensor([True, False, True, True, False, True]),
                                  torch.tensor([4, 0, 0, 2])], ids=["prune-mask", "gather-with-repeats"])
def test_replace_param_moments_follow_rows(keep):
    opt_full, opt_sub, later = adam_pair(keep)
    old = get_param(opt_full, "x")
    new = replace_param(opt_full, "x", old.detach()[keep], keep=keep)
    assert new.is_leaf and new.requires_grad and get_param(opt_full, "x") is new and old not in opt_full.state
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.equal(opt_full.state[new][key], opt_sub.state[get_param(opt_sub, "x")][key]), key
    for g in later:  # continuing gives bitwise the run that only ever had those rows
        for opt, rows in ((opt_full, keep), (opt_sub, keep)):
            get_param(opt, "x").grad = g[rows].clone()
            opt.step()
    assert torch.equal(get_param(opt_full, "x"), get_param(opt_sub, "x"))


def test_extend_param_appends_zero_moments_and_keeps_old_rows():
    opt, _, _ = adam_pair(slice(None))
    old = get_param(opt, "x")
    before = {k: v.clone() for k, v in opt.state[old].items()}
    rows = torch.full((3, 2), 7.0)
    new = extend_param(opt, "x", rows)
    assert new.shape == (9, 2) and torch.equal(new[:6], old.detach()) and torch.equal(new[6:], rows)
    state = opt.state[new]
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.equal(state[key][:6], before[key]) and not state[key][6:].any(), key
    assert torch.equal(state["step"], before["step"])
    new.grad = torch.ones(9, 2)
    opt.step()  # Adam runs on the grown tensor
    assert torch.isfinite(get_param(opt, "x")).all()


def test_reset_state_zeros_only_the_chosen_rows():
    opt, _, _ = adam_pair(slice(None))
    x = get_param(opt, "x")
    before = {k: v.clone() for k, v in opt.state[x].items()}
    mask = torch.tensor([False, True, False, False, True, False])
    reset_state(opt, "x", mask)
    for key in ("exp_avg", "exp_avg_sq"):
        assert not opt.state[x][key][mask].any() and torch.equal(opt.state[x][key][~mask], before[key][~mask])
    assert torch.equal(opt.state[x]["step"], before["step"]) and get_param(opt, "x") is x
    reset_state(opt, "x")
    assert not opt.state[x]["exp_avg"].any() and not opt.state[x]["exp_avg_sq"].any()


def test_surgery_before_any_step_and_on_1d_and_3d_tensors():
    opt = make_adam({"o": leaf(4), "sh": leaf(4, 3, 3)}, {"o": 0.05, "sh": 1e-3})
    o = replace_param(opt, "o", get_param(opt, "o").detach()[:2], keep=torch.tensor([0, 1]))
    assert o.shape == (2,) and o not in opt.state
    for name in ("o", "sh"):
        get_param(opt, name).grad = torch.ones_like(get_param(opt, name))
    opt.step()
    sh = replace_param(opt, "sh", get_param(opt, "sh").detach()[[3, 1]], keep=torch.tensor([3, 1]))
    assert opt.state[sh]["exp_avg"].shape == (2, 3, 3)
    with pytest.raises(KeyError, match="no parameter group named 'nope'"):
        get_param(opt, "nope")
    with pytest.raises(ValueError, match="would become"):
        replace_param(opt, "sh", torch.zeros(5, 3, 3), keep=torch.tensor([0]))
    assert get_param(opt, "sh") is sh, "a failed call changed the optimizer"
    assert opt.state[sh]["exp_avg"].shape == (2, 3, 3)


def test_lean_adam_steps_bit_identically_to_fused_adam():
    from ngfx.train.optim import LeanAdam

    g = torch.Generator().manual_seed(0)
    ours = [torch.randn(7, 3, generator=g).requires_grad_(), torch.randn(5, generator=g).requires_grad_()]
    theirs = [p.detach().clone().requires_grad_() for p in ours]

    def make(cls, params):
        return cls([{"params": [params[0]], "lr": 0.01, "name": "a"}, {"params": [params[1]], "lr": 0.3, "name": "b"}],
                   lr=0.0, eps=1e-15, fused=True)

    lean, fused = make(LeanAdam, ours), make(torch.optim.Adam, theirs)
    for step in range(6):
        for p, q in zip(ours, theirs):
            grad = torch.randn(p.shape, generator=g)
            p.grad, q.grad = grad.clone(), grad.clone()
        if step == 2:  # a tensor without a gradient is skipped, its step count too
            ours[1].grad = theirs[1].grad = None
        if step == 4:  # densification surgery keeps working on the same state layout
            for opt, params in ((lean, ours), (fused, theirs)):
                params[0] = extend_param(opt, "a", torch.ones(2, 3))
                params[0].grad = torch.full((9, 3), 0.5)
        lean.step()
        fused.step()
    assert all(torch.equal(p, q) for p, q in zip(ours, theirs)) and float((ours[0] - 1).abs().max()) > 0
    a, b = lean.state_dict(), fused.state_dict()
    assert a["state"][1]["step"] == b["state"][1]["step"] == 5
    assert all(torch.equal(a["state"][i][k], b["state"][i][k]) for i in (0, 1) for k in ("exp_avg", "exp_avg_sq"))
    again = make(LeanAdam, [p.detach().clone().requires_grad_() for p in ours])
    again.load_state_dict(b)  # checkpoints of either load into the other
    assert torch.equal(again.state_dict()["state"][0]["exp_avg"], b["state"][0]["exp_avg"])
    with pytest.raises(ValueError, match="fused=True"):
        LeanAdam([torch.zeros(2, requires_grad=True)], lr=0.1)
