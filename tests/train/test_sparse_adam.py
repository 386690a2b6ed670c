"""SparseAdam: rows with an all-zero gradient keep value, m, v and step count; per-row bias correction matches
a hand-written per-row Adam; dense groups match torch's Adam with L2; the state survives a checkpoint."""

import pytest
import torch

from ngfx.train.checkpoint import load_checkpoint, save_checkpoint
from ngfx.train.sparse_adam import SparseAdam
from tests.helpers import assert_close

SEEDS = [0, 1, 2]


def _grads(seed: int, rows: int, features: int, steps: int, dtype=torch.float32):
    """Random gradients with about half the rows exactly zero each step (different rows every step),
    including rows that stay untouched for the first steps and a row that is never touched."""
    g = torch.Generator().manual_seed(seed)
    grads = torch.randn(steps, rows, features, generator=g, dtype=dtype)
    hit = torch.rand(steps, rows, generator=g) < 0.5
    hit[:3, 1] = False  # row 1 first touched at step 4
    hit[:, 0] = False  # row 0 never touched
    hit[0, 2] = True
    grads[1, 2, 0] = 0.0  # a touched row with one zero feature is still touched
    return grads * hit[..., None], hit


def _reference(table: torch.Tensor, grads: torch.Tensor, lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-15):
    """Adam written out row by row in float64, each row with its own step count."""
    table = table.double().clone()
    m, v = torch.zeros_like(table), torch.zeros_like(table)
    count = [0] * table.shape[0]
    for grad in grads.double():
        for r in range(table.shape[0]):
            if bool((grad[r] == 0).all()):
                continue
            count[r] += 1
            m[r] = beta1 * m[r] + (1 - beta1) * grad[r]
            v[r] = beta2 * v[r] + (1 - beta2) * grad[r] ** 2
            m_hat, v_hat = m[r] / (1 - beta1 ** count[r]), v[r] / (1 - beta2 ** count[r])
            table[r] = table[r] - lr * m_hat / (v_hat.sqrt() + eps)
    return table, m, v, torch.tensor(count, dtype=torch.float64)


def _run(table: torch.Tensor, grads: torch.Tensor, **kwargs):
    p = table.clone().requires_grad_(True)
    opt = SparseAdam([{"params": [p], "sparse": True, "name": "table"}], **kwargs)
    for grad in grads:
        p.grad = grad.clone()
        opt.step()
    return p, opt


@pytest.mark.parametrize("seed", SEEDS)
def test_untouched_rows_keep_value_moments_and_step_count(seed):
    grads, hit = _grads(seed, rows=40, features=2, steps=6)
    table = torch.empty(40, 2).uniform_(-1e-4, 1e-4, generator=torch.Generator().manual_seed(seed))
    p, opt = _run(table, grads[:5])
    state = opt.state[p]
    before = {k: v.clone() for k, v in state.items()} | {"value": p.detach().clone()}
    p.grad = grads[5].clone()
    opt.step()
    after = {k: v for k, v in state.items()} | {"value": p.detach()}
    skipped, touched = ~hit[5], hit[5]
    assert skipped.sum() > 5 and touched.sum() > 5, f"seed {seed}: both kinds of rows are present"
    for key in ("value", "exp_avg", "exp_avg_sq", "row_step"):
        assert torch.equal(after[key][skipped], before[key][skipped]), f"seed {seed}: {key} of a skipped row"
        assert not torch.equal(after[key][touched], before[key][touched]), f"seed {seed}: {key} not updated"
    assert torch.equal(state["row_step"], hit[:6].sum(0).float()), f"seed {seed}: per-row counts"
    assert state["row_step"][0] == 0 and torch.equal(p[0].detach(), table[0]), "a never-touched row moved"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_per_row_bias_correction_matches_a_row_by_row_adam(seed, dtype):
    grads, _ = _grads(seed, rows=24, features=3, steps=8, dtype=dtype)
    table = torch.randn(24, 3, generator=torch.Generator().manual_seed(100 + seed), dtype=dtype)
    p, opt = _run(table, grads, lr=0.05)
    ref_table, ref_m, ref_v, ref_count = _reference(table, grads, lr=0.05)
    tol = {"rtol": 1e-12, "atol": 1e-14} if dtype == torch.float64 else {"rtol": 2e-5, "atol": 1e-6}
    state = opt.state[p]
    assert_close(p.detach().double(), ref_table, **tol, msg=f"seed {seed}: values")
    assert_close(state["exp_avg"].double(), ref_m, **tol, msg=f"seed {seed}: m")
    assert_close(state["exp_avg_sq"].double(), ref_v, **tol, msg=f"seed {seed}: v")
    assert_close(state["row_step"].double(), ref_count, rtol=0, atol=0, msg=f"seed {seed}: counts")
    # row 1 joined at step 4: its first update is a full lr-sized Adam step (per-row bias correction)
    assert (p.detach() - table).abs().max() > 0.04, f"seed {seed}: steps are lr-sized"


@pytest.mark.parametrize("seed", SEEDS)
def test_dense_group_is_torch_adam_with_l2(seed):
    g = torch.Generator().manual_seed(seed)
    w0 = torch.randn(16, 8, generator=g)
    grads = torch.randn(7, 16, 8, generator=g)
    grads[2, 3] = 0.0  # dense groups do not skip zero gradients
    ours, theirs = w0.clone().requires_grad_(True), w0.clone().requires_grad_(True)
    opt = SparseAdam([ours], lr=1e-2, weight_decay=1e-2)
    ref = torch.optim.Adam([theirs], lr=1e-2, betas=(0.9, 0.99), eps=1e-15, weight_decay=1e-2)
    for grad in grads:
        ours.grad, theirs.grad = grad.clone(), grad.clone()
        opt.step()
        ref.step()
    assert_close(ours.detach(), theirs.detach(), rtol=1e-5, atol=1e-6, msg=f"seed {seed}")
    assert_close(opt.state[ours]["exp_avg_sq"], ref.state[theirs]["exp_avg_sq"], rtol=1e-5, atol=1e-9,
                 msg=f"seed {seed}: v")
    assert float(opt.state[ours]["step"]) == 7


def test_state_dict_round_trip_through_a_checkpoint(tmp_path):
    grads, _ = _grads(3, rows=30, features=2, steps=8)
    table = torch.zeros(30, 2)
    mlp = torch.randn(12, generator=torch.Generator().manual_seed(3))

    def make(t, w):
        t, w = t.clone().requires_grad_(True), w.clone().requires_grad_(True)
        opt = SparseAdam([{"params": [t], "sparse": True, "name": "table"},
                          {"params": [w], "weight_decay": 1e-6, "name": "mlp"}])
        return t, w, opt

    def steps(t, w, opt, lo, hi):
        for i in range(lo, hi):
            t.grad, w.grad = grads[i].clone(), grads[i].flatten()[:12].clone()
            opt.step()

    t, w, opt = make(table, mlp)
    steps(t, w, opt, 0, 4)
    save_checkpoint(tmp_path / "c.pt", {"optim": opt.state_dict(), "t": t.detach(), "w": w.detach()})
    steps(t, w, opt, 4, 8)
    saved = load_checkpoint(tmp_path / "c.pt")  # torch.load(weights_only=True)
    t2, w2, opt2 = make(saved["t"], saved["w"])
    opt2.load_state_dict(saved["optim"])
    assert [g["name"] for g in opt2.param_groups] == ["table", "mlp"] and opt2.param_groups[0]["sparse"]
    steps(t2, w2, opt2, 4, 8)
    assert torch.equal(t2, t) and torch.equal(w2, w), "resumed steps differ from uninterrupted ones"
    for key in ("row_step", "exp_avg", "exp_avg_sq"):
        assert torch.equal(opt2.state[t2][key], opt.state[t][key]), key


def test_bad_settings_are_refused():
    table = torch.zeros(4, 2, requires_grad=True)
    with pytest.raises(ValueError, match="weight_decay must be >= 0 and 0 in sparse groups"):
        SparseAdam([{"params": [table], "sparse": True, "weight_decay": 1e-6}])
    with pytest.raises(ValueError, match="eps must be > 0"):
        SparseAdam([table], eps=0.0)
    with pytest.raises(ValueError, match="fp32/fp64 tables"):
        SparseAdam([torch.zeros(4, 2, dtype=torch.float16, requires_grad=True)], sparse=True)
    opt = SparseAdam([table], sparse=True)
    opt.step()  # no gradient: nothing happens, no state
    assert not opt.state
