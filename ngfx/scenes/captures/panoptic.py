"""CMU-Panoptic captures in the Dynamic 3D Gaussians layout (Luiten et al., 3DV 2024) -> `Capture`.

Layout (REFERENCE.md 1.7): `train_meta.json` and optionally `test_meta.json`, each
`{"w", "h", "k": [T][C] 3x3, "w2c": [T][C] 4x4, "fn": [T][C], "cam_id": [T][C]}`, images at `ims/<fn>`
and foreground masks at `seg/<fn>` (the extension may differ, e.g. `.png` masks beside `.jpg` images).
`w2c` is already OpenCV world-to-camera and K already uses the +0.5 pixel-centre convention, so both pass
through unchanged. The world frame is arbitrary: `up` is estimated as the mean of the cameras' -y axes
(a dome rig's cameras are upright). The layout has no initial point cloud (`Capture.points` is None).

Near plane: every camera's is RIG_NEAR of the rig's radius (see there), for training and for the views
`ngfx render` takes from a trained run.

Time: timestep t is at `t / fps` seconds, fps defaulting to `PANOPTIC_FPS` = 30 (the rate of the Dynamic
3D Gaussians sequences, which the meta files do not record); REFERENCE.md's normalised time t/(T-1) is
`camera.time / ((T - 1) / fps)`.

Splits (`LoadOptions.split`): "auto" keeps the files' own split (train_meta -> "train", test_meta ->
"test"); "cameras:a,b" holds out those camera ids of train_meta as "val"; "every:N" holds out every Nth
camera of train_meta (positions 0, N, 2N, ... in the meta's camera order) as "val". Whole cameras are held
out, never single frames, since a rig camera's other timesteps would leak its view into training.
"""

import dataclasses
from pathlib import Path

import numpy as np

from ngfx.errors import InputError
from ngfx.scenes.camera import Camera
from ngfx.scenes.captures.capture import Capture, CaptureFrame, LoadOptions, estimate_up, read_json_object

__all__ = ["PANOPTIC_FPS", "RIG_NEAR", "load_panoptic"]

PANOPTIC_FPS = 30.0
RIG_NEAR = 0.2
"""Near plane as a share of the rig's radius: the dome's cameras see one another's housings, so training
puts dark Gaussians around each camera's lens, and a held-out camera drawn with a near plane of 0.01 looks
out through its own housing (black). Basketball: radius 2.6, near 0.52."""
_KEYS = ("w", "h", "k", "w2c", "fn", "cam_id")
_MASK_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_panoptic(folder: Path, options: LoadOptions | None = None, *,
                  fps: float = PANOPTIC_FPS) -> Capture:
    """Read a Dynamic-3D-Gaussians folder (module docstring); InputError naming the file and field on
    any problem. Frames are ordered timestep-major (t, then camera), train_meta before test_meta."""
    folder, options = Path(folder), options or LoadOptions()
    if folder.is_file():
        folder = folder.parent
    if not (folder / "train_meta.json").is_file():
        raise InputError("no train_meta.json in this folder", file=folder,
                         fix="point at a Dynamic 3D Gaussians / CMU-Panoptic folder "
                             "(train_meta.json, ims/, seg/)")
    metas = [("train", folder / "train_meta.json")]
    if (folder / "test_meta.json").is_file():
        metas.append(("test", folder / "test_meta.json"))
    frames = []
    for split, path in metas:
        frames += _frames(folder, path, _read_meta(path), split, fps)
    frames = _with_rig_near_plane(_apply_split(frames, options.split))
    up = estimate_up([f.camera for f in frames])
    return Capture(root=folder, format="panoptic", frames=tuple(frames), up=up)


def _with_rig_near_plane(frames: list[CaptureFrame]) -> list[CaptureFrame]:
    """Every camera's near plane at RIG_NEAR x the median distance of the cameras from the rig's centre."""
    centres = np.unique(np.stack([np.asarray(f.camera.position) for f in frames]).round(6), axis=0)
    distance = float(np.median(np.linalg.norm(centres - centres.mean(0), axis=1)))
    near = RIG_NEAR * distance
    if not near > 0:
        return frames
    return [dataclasses.replace(f, camera=dataclasses.replace(f.camera, near=max(f.camera.near, near)))
            for f in frames]


def _read_meta(path: Path) -> dict:
    """The parsed meta file, with every key present and every [T][C] table the same shape."""
    meta = read_json_object(path)
    for key in _KEYS:
        if key not in meta:
            raise InputError(f"missing key {key!r}", file=path, field=key,
                             fix=f"a Panoptic meta file has {', '.join(_KEYS)}")
    n_times = len(meta["fn"]) if isinstance(meta["fn"], list) else -1
    if n_times <= 0:
        raise InputError("expected a non-empty [T][C] list of file names", file=path, field="fn")
    for key in ("k", "w2c", "cam_id"):
        table = meta[key]
        if not isinstance(table, list) or len(table) != n_times or any(
                not isinstance(row, list) or len(row) != len(names) for row, names in zip(table, meta["fn"])):
            raise InputError(f"must be a [T][C] list shaped like 'fn' ({n_times} timesteps)", file=path,
                             field=key)
    return meta


def _frames(folder: Path, path: Path, meta: dict, split: str, fps: float) -> list[CaptureFrame]:
    """One frame per (timestep, camera) entry of one meta file."""
    try:
        width, height = int(meta["w"]), int(meta["h"])
    except (TypeError, ValueError):
        raise InputError("image size must be integers", file=path, field="w") from None
    frames, suffix_hint = [], [".png"]
    for t, names in enumerate(meta["fn"]):
        for c, name in enumerate(names):
            camera_id = str(meta["cam_id"][t][c])
            try:
                camera = Camera(K=np.asarray(meta["k"][t][c], dtype=np.float64), width=width, height=height,
                                T_camera_world=np.asarray(meta["w2c"][t][c], dtype=np.float64),
                                time=t / fps, name=f"{camera_id}@{t}")
            except (TypeError, ValueError) as e:  # ragged or non-numeric matrices
                raise InputError(f"not a numeric matrix ({e})", file=path, field=f"k/w2c[{t}][{c}]") from None
            except InputError as e:
                raise InputError(e.problem, file=path, field=f"k/w2c[{t}][{c}]", fix=e.fix) from None
            frames.append(CaptureFrame(image_path=folder / "ims" / name, camera=camera, split=split,
                                       mask_path=_find_mask(folder / "seg" / name, suffix_hint),
                                       camera_id=camera_id))
    return frames


def _find_mask(stem_path: Path, suffix_hint: list[str]) -> Path | None:
    """seg/<fn> with its own or another image extension; the last suffix found is tried first."""
    for suffix in dict.fromkeys([suffix_hint[0], stem_path.suffix, *_MASK_SUFFIXES]):
        candidate = stem_path.with_suffix(suffix)
        if candidate.is_file():
            suffix_hint[0] = suffix
            return candidate
    return None


def _apply_split(frames: list[CaptureFrame], split: str) -> list[CaptureFrame]:
    """Re-label train_meta frames as "val" by camera (module docstring); test_meta frames stay "test"."""
    if split == "auto":
        return frames
    order = list(dict.fromkeys(f.camera_id for f in frames if f.split == "train"))
    kind, _, arg = split.partition(":")
    if kind == "cameras" and arg:
        held = {a.strip() for a in arg.split(",") if a.strip()}
        unknown = sorted(held - set(order))
        if unknown:
            raise InputError(f"camera ids {', '.join(unknown)} are not in train_meta.json", field="split",
                             fix=f"choose among {', '.join(order)}")
    elif kind == "every" and arg.isdigit() and int(arg) >= 2:
        held = set(order[::int(arg)])
    else:
        raise InputError(f"unknown split {split!r}", field="split",
                         fix="use 'auto', 'every:N' (N >= 2) or 'cameras:a,b' with Panoptic camera ids")
    if len(held) == len(order):
        raise InputError(f"split {split!r} holds out every camera", field="split",
                         fix="keep some for training")
    return [dataclasses.replace(f, split="val") if f.split == "train" and f.camera_id in held else f
            for f in frames]
