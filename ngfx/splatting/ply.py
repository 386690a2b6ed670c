"""Gaussian splat PLY files: the INRIA 3DGS layout, read by property name, written byte for byte.

3D layout (graphdeco-inria/gaussian-splatting, REFERENCE 1.9): binary_little_endian, one `vertex` element of
float32 properties, written in this order:

    x y z [nx ny nz] f_dc_0 f_dc_1 f_dc_2 f_rest_0 .. f_rest_{R-1} opacity scale_0 scale_1 scale_2 rot_0 .. rot_3

- opacity is the logit, scale_* the log scale, rot_* the quaternion wxyz as trained (not normalized);
- f_rest is channel-major: f_rest_{c (B - 1) + k - 1} is SH coefficient k (1..B-1) of channel c, with
  B = (D + 1)^2, so R = 3((D + 1)^2 - 1) in {0, 9, 24, 45} gives the SH degree D;
- normals are written as zeros (INRIA writes them, gsplat omits them); `normals=False` leaves them out;
- the header holds `comment ngfx render_mode=classic|antialiased` (absent when read: classic).

4D extension (ngfx's own; there is no standard): the 3D properties above, then

    t scale_t rot_r_0 rot_r_1 rot_r_2 rot_r_3    rotation "dualquat": rot_0..3 = q_l, rot_r_0..3 = q_r (wxyz)
    t scale_t rotor_4 rotor_5 rotor_6 rotor_7    rotation "rotor": rot_0..3 = (s, b_xy, b_xz, b_yz),
                                                 rotor_4..7 = (b_xw, b_yw, b_zw, p)

where t is mu_t (seconds) and scale_t the log scale along t, and the header line
`comment ngfx_4d=dualquat|rotor sh_t=<sh_degree_t> time_range=<t_start>,<t_end>` (Python float reprs, so
exact; all three keys required). Temporal SH is appended to f_rest: first block 0's spatial rest exactly as
in 3D, then for n = 1..sh_t block n's B coefficients (its DC included), channel-major within the block:
f_rest_{3(B - 1) + 3B(n - 1) + cB + k} is coefficient n B + k of channel c; R = 3((sh_t + 1) B - 1).

Reading matches properties by NAME (other tools reorder them or add their own, which are ignored), accepts
any scalar type (converted to float32) and ascii or big-endian files too. Errors name the file and the
property. Unusable Gaussians are dropped with one warning (`ngfx.splatting.validate`). Writing goes to a
temporary file in the target folder that is renamed over the target, so no half-written file is ever seen.
"""

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import torch

from ngfx.atomic import write_atomic
from ngfx.errors import InputError
from ngfx.splatting.model import RENDER_MODES, Gaussians3D, as_numpy_f32
from ngfx.splatting.model4d import ROTATIONS_4D, Gaussians4D
from ngfx.splatting.ply_format import float_header, read_element
from ngfx.splatting.validate import drop_invalid, invalid_gaussians

__all__ = ["load_gaussians", "save_gaussians"]

_ROTATION_TAIL = {"dualquat": [f"rot_r_{i}" for i in range(4)], "rotor": [f"rotor_{i}" for i in range(4, 8)]}
_F_REST = re.compile(r"f_rest_(0|[1-9][0-9]*)")
_FIX_4D = "write it as 'comment ngfx_4d=dualquat|rotor sh_t=<n> time_range=<t_start>,<t_end>'"


@dataclasses.dataclass(frozen=True)
class _Spec4D:
    rotation: str
    sh_degree_t: int
    time_range: tuple[float, float]


def _layout(rotation: str | None, n_rest: int, normals: bool) -> list[tuple[str, list[str]]]:
    """(column group, property names) in file order; `rotation` is None for 3D."""
    groups = [("xyz", ["x", "y", "z"])]
    if normals:
        groups.append(("normals", ["nx", "ny", "nz"]))
    groups += [("f_dc", [f"f_dc_{i}" for i in range(3)]), ("f_rest", [f"f_rest_{i}" for i in range(n_rest)]),
               ("opacity", ["opacity"]), ("scale", [f"scale_{i}" for i in range(3)]),
               ("rot", [f"rot_{i}" for i in range(4)])]
    if rotation is not None:
        groups += [("t", ["t"]), ("scale_t", ["scale_t"]), ("rot_tail", _ROTATION_TAIL[rotation])]
    return groups


def save_gaussians(path, model: Gaussians3D | Gaussians4D, *, normals: bool = True) -> None:
    """Write `model` as a PLY in the layout of the module docstring (float32 on disk), atomically."""
    path = Path(path)
    if model.num_gaussians == 0:
        raise InputError("the model has no Gaussians, so there is nothing to write", file=path,
                         fix="train or load a model with at least one Gaussian")
    columns = _model_columns(model)
    columns["normals"] = np.zeros((model.num_gaussians, 3), dtype=np.float32)
    layout = _layout(getattr(model, "rotation", None), columns["f_rest"].shape[1], normals)
    # all properties are float32, so a row-major [N, P] array has exactly the bytes of the packed records
    body = np.ascontiguousarray(np.concatenate([columns[group] for group, _ in layout], axis=1), dtype="<f4")
    names = [name for _, group_names in layout for name in group_names]
    _write_atomic(path, float_header(_comments(model), "vertex", model.num_gaussians, names), body)


def _model_columns(model) -> dict[str, np.ndarray]:
    """The model's parameters as float32 column groups [N, k], keyed like `_layout`."""
    n, blocks = model.num_gaussians, getattr(model, "sh_degree_t", 0) + 1
    columns = {"f_dc": as_numpy_f32(model.sh_dc).reshape(n, 3),
               "f_rest": _to_f_rest(as_numpy_f32(model.sh_rest), (model.sh_degree + 1) ** 2, blocks),
               "opacity": as_numpy_f32(model.opacity_logits).reshape(n, 1)}
    if isinstance(model, Gaussians4D):
        means4, scales, rotations = (as_numpy_f32(t) for t in (model.means4, model.log_scales, model.rotations))
        columns.update(xyz=means4[:, :3], t=means4[:, 3:], scale=scales[:, :3], scale_t=scales[:, 3:],
                       rot=rotations[:, :4], rot_tail=rotations[:, 4:])
    else:
        columns.update(xyz=as_numpy_f32(model.means), scale=as_numpy_f32(model.log_scales),
                       rot=as_numpy_f32(model.quats))
    return columns


def _block_sizes(bases: int, blocks: int) -> list[int]:
    """Rows of sh_rest per temporal block: block 0 lacks its DC (that is sh_dc)."""
    return [bases - 1] + [bases] * (blocks - 1)


def _to_f_rest(sh_rest: np.ndarray, bases: int, blocks: int) -> np.ndarray:
    """sh_rest [N, R, 3] -> f_rest columns [N, 3R], channel-major within each temporal block."""
    parts, start = [], 0
    for size in _block_sizes(bases, blocks):
        parts.append(sh_rest[:, start:start + size].transpose(0, 2, 1).reshape(len(sh_rest), 3 * size))
        start += size
    return np.concatenate(parts, axis=1)


def _from_f_rest(f_rest: np.ndarray, bases: int, blocks: int) -> np.ndarray:
    """f_rest columns [N, 3R] -> sh_rest [N, R, 3]; the inverse of `_to_f_rest`."""
    parts, start = [], 0
    for size in _block_sizes(bases, blocks):
        parts.append(f_rest[:, 3 * start:3 * (start + size)].reshape(len(f_rest), 3, size).transpose(0, 2, 1))
        start += size
    return np.ascontiguousarray(np.concatenate(parts, axis=1))


def _comments(model) -> list[str]:
    comments = [f"ngfx render_mode={model.render_mode}"]
    if isinstance(model, Gaussians4D):
        start, end = model.time_range
        comments.append(f"ngfx_4d={model.rotation} sh_t={model.sh_degree_t} time_range={start!r},{end!r}")
    return comments


def _write_atomic(path: Path, header: bytes, body: np.ndarray) -> None:
    """Write header + body to a temporary file beside `path`, then rename it over `path`."""
    write_atomic(path, (header, memoryview(body).cast("B")), what="the file")


def load_gaussians(path) -> Gaussians3D | Gaussians4D:
    """Read a Gaussian splat PLY (3D, or 4D when the header has an ngfx_4d comment); InputError if bad."""
    path = Path(path)
    header, rows = _read_vertices(path)
    render_mode, spec = _read_comments(header.comments, path)
    names = set(rows.dtype.names)
    if spec is None and names & {"t", "scale_t"}:
        raise InputError("has a 't' or 'scale_t' property but no 'comment ngfx_4d=...' header line", file=path,
                         field="t", fix="add the ngfx_4d comment to read it as 4D Gaussians, " + _FIX_4D)
    rotation, blocks = (spec.rotation, spec.sh_degree_t + 1) if spec else (None, 1)
    n_rest = _count_f_rest(names, path)
    bases = _bases_per_block(n_rest, blocks, path)
    layout = _layout(rotation, n_rest, normals=False)
    _check_required(layout, names, path)
    columns = {group: _gather(rows, group_names) for group, group_names in layout}
    params = _params(columns, bases, blocks)
    masks = invalid_gaussians(params, 2 if rotation == "dualquat" else 1)
    params = drop_invalid(params, masks, path)
    if len(params["opacity_logits"]) == 0:
        raise InputError(f"all {len(rows)} Gaussians are unusable (see the warning)", file=path,
                         field="element vertex", fix="re-export the model from a training run that did not diverge")
    return _build(params, render_mode, spec)


def _read_vertices(path: Path):
    """(header, structured rows) of the vertex element; InputError for a missing, unreadable or empty file."""
    if not path.is_file():
        raise InputError(f"PLY file {'is a folder' if path.is_dir() else 'does not exist'}", file=path,
                         fix="check the path")
    try:
        header, rows = read_element(path, "vertex")
    except OSError as e:
        raise InputError(f"cannot read the file ({e.strerror})", file=path) from None
    if len(rows) == 0:
        raise InputError("has no Gaussians (element vertex 0)", file=path, field="element vertex",
                         fix="export a model with at least one Gaussian")
    return header, rows


def _read_comments(comments, path: Path) -> tuple[str, _Spec4D | None]:
    """render_mode and the 4D spec from the header's ngfx comments."""
    render_mode, spec = "classic", None
    for text in comments:
        words = text.split()
        if words[:1] == ["ngfx"]:
            values = dict(word.split("=", 1) for word in words[1:] if "=" in word)
            render_mode = values.get("render_mode", render_mode)
            if render_mode not in RENDER_MODES:
                raise InputError(f"unknown render_mode {render_mode!r}", file=path, field="comment ngfx",
                                 fix=f"use one of {', '.join(RENDER_MODES)}")
        elif words[:1] and words[0].startswith("ngfx_4d="):
            spec = _parse_4d(words, path)
    return render_mode, spec


def _parse_4d(words: list[str], path: Path) -> _Spec4D:
    """The 4D spec from the words of an ngfx_4d comment."""
    values = dict(word.split("=", 1) for word in words if "=" in word)
    missing = [key for key in ("ngfx_4d", "sh_t", "time_range") if key not in values]
    if missing:
        raise InputError(f"missing {missing[0]}", file=path, field="comment ngfx_4d", fix=_FIX_4D)
    if values["ngfx_4d"] not in ROTATIONS_4D:
        raise InputError(f"unknown 4D rotation {values['ngfx_4d']!r}", file=path, field="comment ngfx_4d",
                         fix=f"use one of {', '.join(ROTATIONS_4D)}")
    if not values["sh_t"].isdigit():
        raise InputError(f"sh_t must be a whole number, got {values['sh_t']!r}", file=path,
                         field="comment ngfx_4d", fix=_FIX_4D)
    try:
        start, end = (float(v) for v in values["time_range"].split(","))
    except ValueError:
        start = end = math.nan
    if not (math.isfinite(start) and math.isfinite(end) and end > start):
        raise InputError(f"time_range must be two finite times t_start < t_end, got {values['time_range']!r}",
                         file=path, field="comment ngfx_4d", fix=_FIX_4D)
    return _Spec4D(values["ngfx_4d"], int(values["sh_t"]), (start, end))


def _count_f_rest(names: set[str], path: Path) -> int:
    """The number of f_rest_<i> properties, which must be numbered 0..R-1 without gaps."""
    found = {int(m.group(1)) for name in names if (m := _F_REST.fullmatch(name))}
    if found and max(found) != len(found) - 1:
        gap = min(set(range(max(found))) - found)
        raise InputError(f"f_rest properties run up to f_rest_{max(found)} but f_rest_{gap} is missing", file=path,
                         field=f"f_rest_{gap}", fix="re-export the model with all of its SH coefficients")
    return len(found)


def _bases_per_block(n_rest: int, blocks: int, path: Path) -> int:
    """B = (D + 1)^2 from the f_rest count R = 3(blocks B - 1), for a degree D in 0..3."""
    allowed = {3 * (blocks * (d + 1) ** 2 - 1): (d + 1) ** 2 for d in range(4)}
    if n_rest not in allowed:
        expected = ", ".join(str(r) for r in allowed)
        raise InputError(f"has {n_rest} f_rest properties, which fits no SH degree 0..3 (expected one of "
                         f"{expected})", file=path, field="f_rest", fix="re-export the model with all of its "
                         "SH coefficients")
    return allowed[n_rest]


def _check_required(layout, names: set[str], path: Path) -> None:
    missing = [name for group, group_names in layout if group != "f_rest" for name in group_names
               if name not in names]
    if missing:
        raise InputError(f"missing required propert{'ies' if len(missing) > 1 else 'y'} {', '.join(missing)}",
                         file=path, field=missing[0], fix="give a Gaussian splat PLY (INRIA 3DGS layout; the "
                         "ngfx_4d layout for 4D)")


def _gather(rows: np.ndarray, names: list[str]) -> np.ndarray:
    """The named properties as a float32 array [N, len(names)] (any stored type converted)."""
    if not names:
        return np.zeros((len(rows), 0), dtype=np.float32)
    with np.errstate(over="ignore"):  # doubles beyond float32 become inf: dropped and counted by validate
        return np.stack([rows[name].astype(np.float32) for name in names], axis=1)


def _params(columns: dict[str, np.ndarray], bases: int, blocks: int) -> dict[str, np.ndarray]:
    """Raw parameter arrays by model field name ("rotations" for 3D quats too), from column groups."""
    n = len(columns["xyz"])
    params = {"means": columns["xyz"], "log_scales": columns["scale"], "rotations": columns["rot"],
              "opacity_logits": columns["opacity"][:, 0], "sh_dc": columns["f_dc"].reshape(n, 1, 3),
              "sh_rest": _from_f_rest(columns["f_rest"], bases, blocks)}
    if "t" in columns:
        params["means"] = np.concatenate([columns["xyz"], columns["t"]], axis=1)
        params["log_scales"] = np.concatenate([columns["scale"], columns["scale_t"]], axis=1)
        params["rotations"] = np.concatenate([columns["rot"], columns["rot_tail"]], axis=1)
    return params


def _build(params: dict[str, np.ndarray], render_mode: str, spec: _Spec4D | None):
    t = {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in params.items()}
    shared = {"opacity_logits": t["opacity_logits"], "sh_dc": t["sh_dc"], "sh_rest": t["sh_rest"],
              "render_mode": render_mode}
    if spec is None:
        return Gaussians3D(means=t["means"], log_scales=t["log_scales"], quats=t["rotations"], **shared)
    return Gaussians4D(means4=t["means"], log_scales=t["log_scales"], rotations=t["rotations"], **shared,
                       rotation=spec.rotation, sh_degree_t=spec.sh_degree_t, time_range=spec.time_range)
