"""Config dataclasses: JSON round trip, field-by-field type checks naming the field, field docstrings."""

import dataclasses
import json
import pathlib
from typing import Literal

import pytest

from ngfx.errors import InputError
from ngfx.train.config import config_to_dict, field_docs, load_config, save_config, undocumented_fields
from ngfx.train.loop import LoopConfig
from ngfx.train.optim import Constant, ExponentialDecay


@dataclasses.dataclass(frozen=True, kw_only=True)
class Inner:
    lr: float = 0.01
    """Learning rate."""
    schedule: Constant | ExponentialDecay | None = None
    """Optional schedule."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Outer:
    name: str = "run"
    """Run name."""
    steps: int = 10
    """Steps."""
    flag: bool = False
    """A switch."""
    size: tuple[int, int] = (4, 3)
    """Width and height."""
    out: pathlib.Path = pathlib.Path("out")
    """Output folder."""
    mode: Literal["classic", "antialiased"] = "classic"
    """Render mode."""
    weights: dict[str, float] = dataclasses.field(default_factory=dict)
    """Per-name weights."""
    inner: Inner = dataclasses.field(default_factory=Inner)
    """Nested config."""

    def __post_init__(self):
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")


def write(tmp_path, data) -> pathlib.Path:
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(data))
    return path


def test_round_trip_keeps_every_type(tmp_path):
    schedule = ExponentialDecay(lr_init=1e-2, lr_final=1e-4, max_steps=100)
    cfg = Outer(name="x", steps=3, flag=True, size=(8, 6), out=pathlib.Path("a/b"), mode="antialiased",
                weights={"ssim": 0.2}, inner=Inner(lr=1e-3, schedule=schedule))
    save_config(tmp_path / "c.json", cfg)
    assert load_config(tmp_path / "c.json", Outer) == cfg
    assert json.loads((tmp_path / "c.json").read_text())["size"] == [8, 6]
    assert not list(tmp_path.glob(".*.tmp")), "temporary file left behind"


def test_missing_fields_take_defaults_and_ints_pass_as_floats(tmp_path):
    cfg = load_config(write(tmp_path, {"inner": {"lr": 1}}), Outer)
    assert cfg == Outer(inner=Inner(lr=1.0)) and isinstance(cfg.inner.lr, float)


@pytest.mark.parametrize("data, field, words", [
    ({"stepz": 3}, "stepz", "did you mean 'steps'"),
    ({"inner": {"lrr": 3}}, "inner.lrr", "unknown field"),
    ({"steps": "3"}, "steps", "expected int"),
    ({"steps": 2.5}, "steps", "expected int"),
    ({"steps": True}, "steps", "expected int"),
    ({"flag": 1}, "flag", "expected bool"),
    ({"size": [1, 2, 3]}, "size", "expected 2 items"),
    ({"size": [1, "a"]}, "size[1]", "expected int"),
    ({"mode": "fancy"}, "mode", "expected one of"),
    ({"weights": {"a": "b"}}, "weights.a", "expected float"),
    ({"inner": {"schedule": {"lr_init": 1e-2, "lr_final": 1e-4}}}, "inner.schedule.max_steps", "missing"),
    ({"inner": {"schedule": {"lr": 1e-2, "max_steps": 3}}}, "inner.schedule", "expected Constant or"),
    ({"inner": {"schedule": 0.1}}, "inner.schedule", "expected Constant or"),
    ({"inner": {"schedule": {"lr": -1.0}}}, "inner.schedule", ">= 0"),
    ({"steps": -1}, None, "steps must be >= 0"),
])
def test_bad_fields_are_input_errors_naming_the_field(tmp_path, data, field, words):
    path = write(tmp_path, data)
    with pytest.raises(InputError) as info:
        load_config(path, Outer)
    assert info.value.field == field, str(info.value)
    assert words in str(info.value) and str(path) in str(info.value)


def test_bad_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_config(tmp_path / "none.json", Outer)
    (tmp_path / "bad.json").write_text("{\n  'steps': 1}")
    with pytest.raises(InputError, match="not valid JSON .line 2"):
        load_config(tmp_path / "bad.json", Outer)
    with pytest.raises(InputError, match="expected a JSON object"):
        load_config(write(tmp_path, [1, 2]), Outer)


def test_field_docs_are_read_from_the_source():
    assert field_docs(Outer)["inner"] == "Nested config."
    assert field_docs(Inner) == {"lr": "Learning rate.", "schedule": "Optional schedule."}
    assert undocumented_fields(Outer) == []

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Partly:
        a: int = 1
        """Documented."""
        b: int = 2

    assert undocumented_fields(Partly) == ["b"]


@pytest.mark.parametrize("cls", [LoopConfig, Constant, ExponentialDecay])
def test_package_configs_document_every_field(cls):
    assert undocumented_fields(cls) == []


def test_config_to_dict_rejects_non_dataclasses():
    with pytest.raises(TypeError):
        config_to_dict({"a": 1})
