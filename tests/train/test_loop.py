"""TrainLoop on a toy problem (a random linear map fitted by Adam on random minibatches): bit-identical
resume, Ctrl-C, non-finite loss, evaluation and checkpoint schedules, stage timing."""

import dataclasses
import io
import os
import random
import signal

import pytest
import torch

from ngfx.errors import InputError
from ngfx.train.checkpoint import load_checkpoint
from ngfx.train.loop import LoopConfig, TrainLoop, checkpoint_path, latest_checkpoint
from ngfx.train.optim import exponential_decay, get_param, make_adam, step_schedules
from ngfx.train.progress import read_jsonl


class Toy:
    """Fit W to a fixed random map from minibatches drawn with three RNGs: a seeded torch.Generator (batch
    indices), torch's global generator (noise) and Python's random (a scale), so resume must restore all."""

    def __init__(self, seed_globals=0, nan_at=None, interrupt_at=None, sigint_at=None):
        data_rng = torch.Generator().manual_seed(1234)
        self.inputs = torch.randn(64, 4, generator=data_rng)
        self.targets = self.inputs @ torch.randn(4, 3, generator=data_rng)
        self.batches = torch.Generator().manual_seed(7)
        torch.manual_seed(seed_globals)
        random.seed(seed_globals)
        W = torch.zeros(4, 3, requires_grad=True)
        self.opt = make_adam({"W": W}, {"W": exponential_decay(0.1, 0.01, 20)})
        self.nan_at, self.interrupt_at, self.sigint_at = nan_at, interrupt_at, sigint_at

    def step(self, step, timer):
        if step == self.interrupt_at:
            raise KeyboardInterrupt  # before the step changes anything
        W = get_param(self.opt, "W")
        with timer("render"):
            idx = torch.randint(0, 64, (8,), generator=self.batches)
            pred = self.inputs[idx] @ W + 0.01 * torch.randn(8, 3) * random.random()
        if step == self.sigint_at:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of a step
        with timer("loss"):
            loss = ((pred - self.targets[idx]) ** 2).mean() * (float("nan") if step == self.nan_at else 1.0)
        with timer("backward"):
            loss.backward()
        with timer("optimizer"):
            step_schedules(self.opt, step)
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
        return {"loss": loss.detach(), "count": 12}

    def get_state(self):
        return {"W": get_param(self.opt, "W").detach().clone(), "optim": self.opt.state_dict()}

    def set_state(self, state):
        with torch.no_grad():
            get_param(self.opt, "W").copy_(state["W"])
        self.opt.load_state_dict(state["optim"])

    def W(self):
        return get_param(self.opt, "W").detach()


@dataclasses.dataclass(frozen=True, kw_only=True)
class ToyConfig:
    loop: LoopConfig = dataclasses.field(default_factory=LoopConfig)
    """Loop settings."""


def train(toy, run_dir, max_steps, stream=None, eval_fn=None, **overrides):
    cfg = LoopConfig(**{"max_steps": max_steps, "checkpoint_every": 5, "log_every": 2, **overrides})
    loop = TrainLoop(cfg, run_dir, step_fn=toy.step, get_state=toy.get_state, set_state=toy.set_state,
                     eval_fn=eval_fn, generators={"batches": toy.batches}, config=ToyConfig(loop=cfg),
                     stream=stream or io.StringIO(), use_tqdm=False)
    return loop.run()


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """20 steps in one go: the reference every interrupted-and-resumed run must reproduce bit for bit."""
    toy = Toy()
    result = train(toy, tmp_path_factory.mktemp("straight"), 20)
    assert result.status == "finished" and result.step == 20
    return toy


def assert_same_run(toy, reference):
    assert torch.equal(toy.W(), reference.W()), (toy.W() - reference.W()).abs().max()
    mine, theirs = (next(iter(t.opt.state.values())) for t in (toy, reference))
    assert all(torch.equal(mine[k], theirs[k]) for k in ("exp_avg", "exp_avg_sq", "step"))
    assert torch.equal(toy.batches.get_state(), reference.batches.get_state())


def test_resume_is_bit_identical(tmp_path, straight):
    first = train(Toy(), tmp_path, 10)
    assert first.checkpoint == checkpoint_path(tmp_path, 10) and (tmp_path / "config.json").exists()
    toy = Toy(seed_globals=99)  # fresh process: other global RNG states, until the checkpoint restores them
    result = train(toy, tmp_path, 20)
    assert result.status == "finished" and result.step == 20
    assert_same_run(toy, straight)
    resumed = {"event": "resume", "step": 10, "checkpoint": str(first.checkpoint)}
    assert resumed in read_jsonl(tmp_path / "metrics.jsonl")
    assert load_checkpoint(result.checkpoint)["config"]["loop"]["max_steps"] == 20


def test_resume_test_can_fail(tmp_path, straight):
    """Sanity of the test above: the trajectory depends on the RNGs the loop restores."""
    toy = Toy(seed_globals=99)
    train(toy, tmp_path, 20)
    assert not torch.equal(toy.W(), straight.W())


def test_keyboard_interrupt_in_a_step_saves_and_resume_continues(tmp_path, straight):
    stream = io.StringIO()
    result = train(Toy(interrupt_at=13), tmp_path, 20, stream=stream)
    assert (result.status, result.step) == ("interrupted", 13)
    assert result.checkpoint == checkpoint_path(tmp_path, 13)
    assert "interrupted after step 13" in stream.getvalue() and "time per stage" in stream.getvalue()
    toy = Toy(seed_globals=5)
    assert train(toy, tmp_path, 20).status == "finished"
    assert_same_run(toy, straight)


def test_ctrl_c_is_deferred_to_the_end_of_the_step(tmp_path, straight):
    before = signal.getsignal(signal.SIGINT)
    result = train(Toy(sigint_at=6), tmp_path, 20)
    assert (result.status, result.step) == ("interrupted", 7), "the interrupted step must complete"
    assert signal.getsignal(signal.SIGINT) is before, "the SIGINT handler was not restored"
    toy = Toy()
    train(toy, tmp_path, 20)
    assert_same_run(toy, straight)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    stream = io.StringIO()
    result = train(Toy(nan_at=12), tmp_path, 20, stream=stream)
    good = checkpoint_path(tmp_path, 10)
    assert (result.status, result.step, result.checkpoint) == ("non_finite", 12, good)
    assert latest_checkpoint(tmp_path) == good
    assert torch.isfinite(load_checkpoint(good)["state"]["W"]).all()
    assert "loss is nan at step 13" in result.message and str(good) in result.message
    assert result.message in stream.getvalue()
    events = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if "event" in r]
    assert events[0] == {"event": "non_finite", "step": 13, "loss": "nan"}
    assert events[-1]["event"] == "non_finite"


def test_eval_checkpoint_and_log_schedules(tmp_path):
    evals, stream = [], io.StringIO()
    def eval_fn(step):
        evals.append(step)
        return {"psnr": 30.0}

    result = train(Toy(), tmp_path, 10, stream=stream, eval_fn=eval_fn, eval_every=4, checkpoint_every=3,
                   keep_checkpoints=2)
    assert evals == [4, 8, 10]
    kept = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert kept == ["step-00000009.pt", "step-00000010.pt"]
    records = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records if "loss" in r] == [2, 4, 6, 8, 10]
    assert all(r["count"] == 12 and r["its"] > 0 for r in records if "loss" in r)
    assert [r["step"] for r in records if "eval" in r] == [4, 8, 10]
    assert set(result.seconds) == {"render", "loss", "backward", "optimizer", "eval", "checkpoint"}
    assert "time per stage: " in stream.getvalue() and "eval at step 8: psnr 30" in stream.getvalue()


def test_refuses_to_mix_runs_and_reports_corrupt_checkpoints(tmp_path):
    train(Toy(), tmp_path, 5)
    with pytest.raises(InputError, match="already holds checkpoints"):
        train(Toy(), tmp_path, 10, resume=False)
    checkpoint_path(tmp_path, 5).write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable checkpoint"):
        train(Toy(), tmp_path, 10)
    with pytest.raises(ValueError):
        LoopConfig(max_steps=-1)


def test_other_errors_propagate_and_restore_the_sigint_handler(tmp_path):
    before, toy = signal.getsignal(signal.SIGINT), Toy()
    working = toy.step

    def broken(step, timer):
        if step == 3:
            raise RuntimeError("bug in the trainer")
        return working(step, timer)

    toy.step = broken
    with pytest.raises(RuntimeError, match="bug in the trainer"):
        train(toy, tmp_path, 10)
    assert signal.getsignal(signal.SIGINT) is before
    assert latest_checkpoint(tmp_path) is None, "a crash must not checkpoint a half-done step"


class FakeClock:
    """Stands in for the loop's `time` module: each training step costs `step_s` seconds, each evaluation
    `eval_s` (which the training clock must not count)."""

    def __init__(self, step_s, eval_s):
        self.now, self.step_s, self.eval_s = 100.0, step_s, eval_s

    def perf_counter(self):
        return self.now


def test_time_budget_stops_and_eval_marks_fire_once_on_training_time(tmp_path, monkeypatch):
    import ngfx.train.loop as loop_module

    clock = FakeClock(step_s=1.0, eval_s=50.0)
    monkeypatch.setattr(loop_module, "time", clock)
    toy = Toy()
    inner = toy.step

    def step(step, timer):
        clock.now += clock.step_s
        return inner(step, timer)

    def eval_fn(step):
        clock.now += clock.eval_s  # long evaluations must not eat the training budget
        return {"psnr": float(step)}

    toy.step = step
    result = train(toy, tmp_path / "run", 1000, eval_fn=eval_fn, max_seconds=10.5,
                   eval_at_seconds=(2.5, 5.5, 5.8), checkpoint_every=0)
    assert result.status == "finished"
    assert result.step == 11  # the first step at or past 10.5 s of training
    marks = [(e["step"], e["train_seconds"]) for e in result.evals]
    # 2.5 s -> after step 3; 5.5 and 5.8 both pass by step 6 -> one evaluation; then the final one at 11
    assert marks == [(3, 3.0), (6, 6.0), (11, 11.0)]
    assert [e["psnr"] for e in result.evals] == [3.0, 6.0, 11.0]
    evals = [r for r in read_jsonl(tmp_path / "run" / "metrics.jsonl") if "eval" in r]
    assert [r["train_seconds"] for r in evals] == [3.0, 6.0, 11.0]


def test_time_budget_zero_means_no_limit_and_bad_marks_are_refused(tmp_path):
    assert train(Toy(), tmp_path / "run", 7, max_seconds=0.0).step == 7
    with pytest.raises(ValueError, match="eval_at_seconds"):
        LoopConfig(eval_at_seconds=(0.0,))
    with pytest.raises(ValueError, match="max_seconds"):
        LoopConfig(max_seconds=-1.0)


def _timed_run(tmp_path, monkeypatch, *, first_s, step_s, steps, max_seconds=0.0):
    """A toy run on the fake clock whose first step (the compile) takes first_s and the others step_s."""
    import ngfx.train.loop as loop_module

    clock = FakeClock(step_s=step_s, eval_s=0.0)
    monkeypatch.setattr(loop_module, "time", clock)
    toy, stream = Toy(), io.StringIO()
    inner = toy.step

    def step(step, timer):
        clock.now += first_s if step == 0 else step_s
        return inner(step, timer)

    cfg = LoopConfig(max_steps=steps, checkpoint_every=0, log_every=1000, max_seconds=max_seconds)
    TrainLoop(cfg, tmp_path, step_fn=step, get_state=toy.get_state, set_state=toy.set_state, stream=stream,
              use_tqdm=False, slow_hint="try --downscale 2").run()
    lines = [line for line in stream.getvalue().splitlines() if line.startswith("expected:")]
    logged = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if r.get("event") == "estimate"]
    assert len(lines) == 1 and [r["message"] for r in logged] == lines, stream.getvalue()
    return lines[0]


def test_slow_runs_hear_their_duration_and_the_hint_after_a_few_steps(tmp_path, monkeypatch):
    # 0.3 it/s after a 40 s compile step, as on a 2-core CPU at 504x378: said after steps 2-4, not at the end
    line = _timed_run(tmp_path / "slow", monkeypatch, first_s=40.0, step_s=1 / 0.3, steps=200)
    assert line == ("expected: about 11 min more for the remaining 196 steps at 0.3 it/s (measured over steps "
                    "2-4); try --downscale 2"), line
    fast = _timed_run(tmp_path / "fast", monkeypatch, first_s=40.0, step_s=0.01, steps=3000)
    assert fast == "expected: about 29 s more for the remaining 2,949 steps at 100 it/s (measured over steps 2-51)"
    capped = _timed_run(tmp_path / "capped", monkeypatch, first_s=1.0, step_s=1.0, steps=10_000, max_seconds=60)
    assert capped == "expected: about 54 s more for the 60 s budget at 1 it/s (measured over steps 2-6)", capped
