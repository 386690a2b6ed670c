"""Config dataclasses for trainers: one frozen, kw_only dataclass tree per method, saved as JSON.

The pattern (nerfstudio `configs/base_config.py`, STYLE 5): every field has a default and a docstring, written
as a string literal on the line below it, which `field_docs` reads back for CLI help:

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class SplatConfig:
        steps: int = 30_000
        \"\"\"Optimisation steps (one image each).\"\"\"
        loop: LoopConfig = dataclasses.field(default_factory=LoopConfig)
        \"\"\"Checkpoints, evaluation and logging.\"\"\"

Field types understood by `load_config`: bool, int, float (a JSON integer is accepted), str, pathlib.Path,
None, Literal[...], unions (`X | None`), tuple[X, ...], tuple[X, Y], list[X], dict[str, X] and nested
dataclasses. Checks in `__post_init__` that raise ValueError become InputErrors naming the dataclass's path.
"""

import ast
import dataclasses
import difflib
import inspect
import itertools
import json
import pathlib
import textwrap
import types
import typing

from ngfx.atomic import write_atomic
from ngfx.errors import InputError

__all__ = [
    "config_from_dict",
    "config_to_dict",
    "field_docs",
    "load_config",
    "save_config",
    "undocumented_fields",
]


def config_to_dict(cfg) -> dict:
    """The JSON-ready dict of a config dataclass instance (tuples become lists, Paths strings)."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"expected a dataclass instance, got {type(cfg).__name__}")
    return {f.name: _to_json(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}


def _to_json(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return config_to_dict(value)
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, pathlib.PurePath):
        return str(value)
    return value


def save_config(path, cfg) -> None:
    """Write `cfg` as indented JSON to `path`, atomically."""
    text = json.dumps(config_to_dict(cfg), indent=2) + "\n"
    write_atomic(path, [text.encode()], what="the config")


def load_config(path, cls):
    """Read a config written by `save_config` (or by hand) as an instance of `cls`; fields left out take their
    defaults. A missing or unparsable file, an unknown field or a mistyped value raises InputError."""
    path = pathlib.Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such file", file=path) from None
    except OSError as e:
        raise InputError(f"cannot read the config ({e.strerror})", file=path) from None
    except UnicodeDecodeError:
        raise InputError("is not a text file", file=path, fix="expected a JSON config") from None
    except json.JSONDecodeError as e:
        where = f"line {e.lineno}, column {e.colno}"
        raise InputError(f"is not valid JSON ({where}: {e.msg})", file=path) from None
    return config_from_dict(cls, data, file=path)


def config_from_dict(cls, data, *, file=None, prefix: str = ""):
    """An instance of the dataclass `cls` from a JSON-like dict, type-checked field by field (see the module
    docstring); errors are InputErrors naming `file` and the dotted field path under `prefix`."""
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object, got {_json_kind(data)}", file=file, field=prefix or None)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            fix = f"did you mean '{close[0]}'?" if close else f"known fields: {', '.join(fields)}"
            raise InputError(f"unknown field of {cls.__name__}", file=file, field=prefix + str(key), fix=fix)
    kwargs = {}
    for name, f in fields.items():
        where = prefix + name
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], where, file)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise InputError("is missing and has no default", file=file, field=where)
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        raise InputError(str(e), file=file, field=prefix.rstrip(".") or None) from None


def _convert(value, tp, where: str, file):
    """`value` checked against the annotation `tp`, converted (list to tuple, int to float, str to Path)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    wrong = InputError(f"expected {_type_name(tp)}, got {_json_kind(value)}", file=file, field=where)
    if tp is typing.Any:
        return value
    if dataclasses.is_dataclass(tp):
        return config_from_dict(tp, value, file=file, prefix=where + ".")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        failed = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, where, file)
            except InputError as e:
                if dataclasses.is_dataclass(option) and isinstance(value, dict):
                    failed.append((option, e))
        # an object meant as one of the union's dataclasses (the only one, or the only one with all its keys):
        # report that dataclass's own problem rather than a vague mismatch
        fits = [e for option, e in failed if set(value) <= {f.name for f in dataclasses.fields(option)}]
        if len(failed) == 1 or len(fits) == 1:
            raise (fits or [failed[0][1]])[0]
        raise wrong
    if origin is typing.Literal:
        if any(value == a and type(value) is type(a) for a in args):
            return value
        raise InputError(f"expected one of {list(args)}, got {json.dumps(value)}", file=file, field=where)
    if origin in (tuple, list):
        if not isinstance(value, list):
            raise wrong
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise InputError(f"expected {len(args)} items, got {len(value)}", file=file, field=where)
            return tuple(_convert(v, a, f"{where}[{i}]", file) for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else typing.Any
        items = [_convert(v, item, f"{where}[{i}]", file) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise wrong
        item = args[1] if args else typing.Any
        return {k: _convert(v, item, f"{where}.{k}", file) for k, v in value.items()}
    if tp is type(None):
        if value is None:
            return None
        raise wrong
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise wrong
    if tp in (int, float):  # bool is an int subclass in Python, never a number in a config
        integer = isinstance(value, int) and not isinstance(value, bool)
        if integer or (tp is float and isinstance(value, float)):
            return tp(value)
        raise wrong
    if tp is str or tp is pathlib.Path:
        if isinstance(value, str):
            return tp(value)
        raise wrong
    raise TypeError(f"config field {where}: unsupported annotation {tp!r}")


def _type_name(tp) -> str:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", None) if typing.get_origin(tp) is None else str(tp).replace("typing.", "")


def _json_kind(value) -> str:
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def field_docs(cls) -> dict[str, str]:
    """The docstring under each field of the dataclass `cls` (string literal on the next line), by field name;
    fields inherited from dataclass bases are included. Fields without one are absent."""
    docs = {}
    for klass in reversed(cls.__mro__[:-1]):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):  # defined interactively: no source to read
            continue
        body = tree.body[0].body
        for node, after in itertools.pairwise(body):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def undocumented_fields(cls, prefix: str = "") -> list[str]:
    """Dotted paths of the fields of `cls` and of its nested dataclasses that have no docstring."""
    docs, hints, missing = field_docs(cls), typing.get_type_hints(cls), []
    for f in dataclasses.fields(cls):
        if not docs.get(f.name):
            missing.append(prefix + f.name)
        if dataclasses.is_dataclass(hints[f.name]):
            missing += undocumented_fields(hints[f.name], prefix + f.name + ".")
    return missing
