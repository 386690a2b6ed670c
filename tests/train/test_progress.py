"""JSONL log (line by line, flushed, non-finite floats), progress lines and bar, the stage timer."""

import io
import json

import pytest
import torch

from ngfx.train.progress import JsonlLog, Progress, StageTimer, device_sync, read_jsonl


def test_jsonl_lines_are_flushed_one_by_one(tmp_path):
    path = tmp_path / "m.jsonl"
    log = JsonlLog(path)
    log.write({"step": 1, "loss": torch.tensor(0.5), "eval": {"psnr": 30.0}})
    # readable before close: a crash now keeps the line
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"step": 1, "loss": 0.5, "eval": {"psnr": 30.0}}]
    log.write({"step": 2, "loss": float("nan"), "x": [float("inf"), 1]})
    log.close()
    with JsonlLog(path) as again:  # reopening appends
        again.write({"step": 3})
    lines = path.read_text().splitlines()
    assert json.loads(lines[1]) == {"step": 2, "loss": "nan", "x": ["inf", 1]} and len(lines) == 3
    with open(path, "a") as f:
        f.write('{"step": 4, "lo')  # a torn last line
    assert [r["step"] for r in read_jsonl(path)] == [1, 2, 3]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_plain_progress_prints_every_n_steps_with_rate():
    stream, clock = io.StringIO(), FakeClock()
    progress = Progress(10, every=4, stream=stream, clock=clock)
    for step in range(1, 11):
        clock.now += 0.5
        progress.update(step, loss=0.25, psnr=torch.tensor(31.234), count=12345)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines == ["step 4/10 loss 0.25 psnr 31.23 count 12,345 2.0 it/s",
                     "step 8/10 loss 0.25 psnr 31.23 count 12,345 2.0 it/s",
                     "step 10/10 loss 0.25 psnr 31.23 count 12,345 2.0 it/s"]
    quiet = io.StringIO()
    Progress(10, every=5, stream=quiet).update(5, loss=0.0)
    assert "loss 0 " in quiet.getvalue(), "a zero loss must still show"


def test_tqdm_bar_only_when_asked_or_on_a_terminal():
    pytest.importorskip("tqdm")
    stream = io.StringIO()
    progress = Progress(20, every=5, stream=stream, use_tqdm=True)
    for step in range(1, 21):
        progress.update(step, loss=0.5, count=7)
    progress.message("hello")
    progress.close()
    out = stream.getvalue()
    assert "20/20" in out and "loss=0.5" in out and "count=7" in out and "hello" in out
    assert "step 5/20" not in out
    plain = io.StringIO()  # StringIO is no TTY: plain lines by default
    Progress(5, every=5, stream=plain).update(5, loss=1.0)
    assert plain.getvalue().startswith("step 5/5")


def test_stage_timer_accumulates_and_syncs():
    clock, synced = FakeClock(), []
    timer = StageTimer(sync=lambda: synced.append(clock.now), clock=clock)
    for _ in range(3):
        with timer("render"):
            clock.now += 2.0
        with timer("backward"):
            clock.now += 1.0
    with pytest.raises(RuntimeError), timer("loss"):
        clock.now += 1.0
        raise RuntimeError
    assert timer.seconds == {"render": 6.0, "backward": 3.0, "loss": 1.0}
    assert timer.calls == {"render": 3, "backward": 3, "loss": 1}
    assert len(synced) == 14  # before and after every stage
    assert timer.summary() == "time per stage: render 6.00 s (60%), backward 3.00 s (30%), loss 1.00 s (10%)"
    assert StageTimer().summary() == "no stage timed"
    assert device_sync("cpu") is None
