"""Checkpoints: round trip of tensors, optimizer and RNG states; pickled code refused; corrupt files."""

import random

import pytest
import torch

from ngfx.errors import InputError
from ngfx.train.checkpoint import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from ngfx.train.optim import make_adam


class Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_round_trip_with_optimizer_and_config(tmp_path):
    x = torch.randn(5, 3, requires_grad=True)
    opt = make_adam({"x": x}, {"x": 0.1})
    x.grad = torch.ones_like(x)
    opt.step()
    state = {"step": 7, "params": {"x": x.detach()}, "optim": opt.state_dict(),
             "config": {"lr": 0.1, "n": [1, 2]}}
    save_checkpoint(tmp_path / "a.pt", state)
    back = load_checkpoint(tmp_path / "a.pt")
    assert back["step"] == 7 and back["config"] == {"lr": 0.1, "n": [1, 2]}
    assert torch.equal(back["params"]["x"], x.detach())
    fresh = make_adam({"x": x.detach().clone().requires_grad_(True)}, {"x": 0.5})
    fresh.load_state_dict(back["optim"])  # loads into Adam, schedule dicts included
    assert fresh.param_groups[0]["schedule"] == {"kind": "constant", "lr": 0.1}
    assert torch.equal(next(iter(fresh.state.values()))["exp_avg"], next(iter(opt.state.values()))["exp_avg"])
    assert not list(tmp_path.glob(".*.tmp"))


def test_pickled_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = {"format": CHECKPOINT_FORMAT, "state": {"x": torch.zeros(2), "hook": Payload(marker)}}
    torch.save(evil, tmp_path / "evil.pt")
    with pytest.raises(InputError, match="refused") as info:
        load_checkpoint(tmp_path / "evil.pt")
    assert str(tmp_path / "evil.pt") in str(info.value)
    assert not marker.exists(), "loading ran code from the file"
    # the payload is live: an unsafe load would have run it (so the check above can fail)
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


def test_bad_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_checkpoint(tmp_path / "none.pt")
    save_checkpoint(tmp_path / "good.pt", {"x": torch.arange(1000)})
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(InputError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "text.pt")
    torch.save({"x": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(InputError, match="not an ngfx checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(InputError, match="folder"):
        load_checkpoint(tmp_path)
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "list.pt", [1, 2])


def test_rng_states_round_trip_through_a_file(tmp_path):
    g = torch.Generator().manual_seed(3)
    random.seed(1)
    torch.manual_seed(2)
    save_checkpoint(tmp_path / "rng.pt", {"rng": rng_state({"batches": g})})
    expected = (random.random(), random.gauss(0, 1), torch.rand(3), torch.rand(3, generator=g))
    random.seed(99)
    torch.manual_seed(99)
    g.manual_seed(99)
    restore_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"], {"batches": g})
    got = (random.random(), random.gauss(0, 1), torch.rand(3), torch.rand(3, generator=g))
    assert got[:2] == expected[:2] and torch.equal(got[2], expected[2]) and torch.equal(got[3], expected[3])
    with pytest.raises(InputError, match="'other'"):
        restore_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"], {"other": g})


def test_background_writer_saves_the_state_as_it_was_submitted(tmp_path):
    from ngfx.train.checkpoint import CheckpointWriter, snapshot

    state = {"t": torch.ones(2), "nested": [(torch.zeros(1), "x")]}
    copy = snapshot(state)
    assert copy["t"].data_ptr() != state["t"].data_ptr() and copy["nested"][0][1] == "x"
    assert copy["nested"][0][0].data_ptr() != state["nested"][0][0].data_ptr()

    weights = torch.arange(6.0)
    moments = {"exp_avg": torch.ones(3), "step": 4}
    writer = CheckpointWriter()
    pruned = []
    writer.submit(tmp_path / "a.pt", {"w": weights, "opt": [moments]}, then=lambda: pruned.append(1))
    weights.add_(100.0)  # training goes on while the file is written
    moments["exp_avg"].mul_(0.0)
    writer.submit(tmp_path / "b.pt", {"w": weights})  # waits for the first
    writer.wait()
    a, b = load_checkpoint(tmp_path / "a.pt"), load_checkpoint(tmp_path / "b.pt")
    assert torch.equal(a["w"], torch.arange(6.0)) and torch.equal(a["opt"][0]["exp_avg"], torch.ones(3))
    assert a["opt"][0]["step"] == 4 and torch.equal(b["w"], torch.arange(6.0) + 100) and pruned == [1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "b.pt"]  # no temporary files left


def test_background_writer_errors_reach_the_caller(tmp_path):
    from ngfx.train.checkpoint import CheckpointWriter

    writer = CheckpointWriter()
    writer.submit(tmp_path / "missing" / "a.pt", {"w": torch.zeros(2)})
    with pytest.raises(InputError, match="cannot write in this folder"):
        writer.wait()
    writer.wait()  # reported once
    writer.submit(tmp_path / "missing" / "b.pt", {"w": torch.zeros(2)})
    with pytest.raises(InputError):
        writer.submit(tmp_path / "c.pt", {"w": torch.zeros(2)})  # the earlier failure, before the next write
