"""train_gaussians end to end on tiny synthetic captures written as Blender / D-NeRF folders: it learns
(held-out PSNR beats the untrained model), writes its outputs, and resumes bit for bit."""

import dataclasses
import io
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from ngfx.scenes.camera import Camera
from ngfx.scenes.captures import load_capture
from ngfx.splatting.ply import load_gaussians
from ngfx.splatting.render import render_gaussians
from ngfx.splatting.strategy import DensifyConfig
from ngfx.splatting.synthetic import orbiting_gaussians, shell_gaussians
from ngfx.splatting.trainer import GaussianTrainConfig, train_gaussians
from ngfx.splatting.trainer_config import scaled_densify
from ngfx.train.config import load_config, undocumented_fields
from ngfx.train.progress import read_jsonl

W, H, FOV = 32, 24, 50.0


def _cameras(n: int, radius: float = 1.6, *, offset: float = 0.0, times=None) -> list[Camera]:
    cams = []
    for i in range(n):
        a = 2 * math.pi * (i + offset) / n
        eye = (radius * math.cos(a), 0.4 * radius * math.sin(3 * a), radius * math.sin(a))
        t = None if times is None else float(times[i])
        cams.append(Camera.look_at(eye, (0, 0, 0), width=W, height=H, fov_y_deg=FOV, time=t))
    return cams


def _write_capture(root, model, splits: dict[str, list[Camera]]):
    """Render `model` from each camera on black, save PNGs and Blender / D-NeRF JSONs; load it back."""
    fov_x = 2 * math.atan(W / H * math.tan(math.radians(FOV) / 2))
    for split, cams in splits.items():
        (root / split).mkdir(parents=True)
        frames = []
        for i, cam in enumerate(cams):
            with torch.no_grad():
                rgb = render_gaussians(model, cam, background=(0.0, 0.0, 0.0)).rgb
            pixels = (rgb.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
            Image.fromarray(pixels).save(root / split / f"r_{i}.png")
            frame = {"file_path": f"./{split}/r_{i}", "transform_matrix": cam.to_opengl().tolist()}
            if cam.time is not None:
                frame["time"] = cam.time
            frames.append(frame)
        (root / f"transforms_{split}.json").write_text(json.dumps({"camera_angle_x": fov_x, "frames": frames}))
    return load_capture(root)


@pytest.fixture(scope="module")
def static_capture(tmp_path_factory):
    root = tmp_path_factory.mktemp("shell")
    return _write_capture(root, shell_gaussians(300, radius=0.5, sh_degree=0),
                          {"train": _cameras(8), "val": _cameras(3, offset=0.37)})


def _config(**overrides) -> GaussianTrainConfig:
    base = {"steps": 120, "n_init": 800, "sh_degree": 1, "sh_degree_interval": 60, "lr_means": 1.6e-3,
            "lr_means_final": 1.6e-4, "densify_scale": 1.0, "checkpoint_every": 0, "log_every": 20,
            "n_eval_views": 3,
            "densify": DensifyConfig(start=20, stop=70, every=25, grad_threshold=2e-4, reset_every=10**6)}
    return GaussianTrainConfig(**{**base, **overrides})


def test_static_training_learns_and_writes_outputs(static_capture, tmp_path):
    assert static_capture.format == "blender" and len(static_capture.split("val")) == 3
    seen = []
    run = tmp_path / "run"
    summary = train_gaussians(static_capture, _config(eval_every=60), run, stream=io.StringIO(),
                              on_step=lambda step, model: seen.append(step))
    assert summary.status == "finished" and summary.steps == 120
    assert summary.psnr_val > summary.psnr_init + 3.0, summary
    assert 0 < summary.ssim_val <= 1 and summary.n_gaussians > 0
    assert {"render", "loss", "backward", "optimizer", "densify"} <= set(summary.stage_seconds)
    assert seen == list(range(121))
    for name in ("model.ply", "scene.json", "config.json", "metrics.jsonl"):
        assert (run / name).is_file(), name
    assert load_gaussians(run / "model.ply").num_gaussians == summary.n_gaussians
    assert load_config(run / "config.json", GaussianTrainConfig) == _config(eval_every=60)
    evals = [r for r in read_jsonl(run / "metrics.jsonl") if "eval" in r]
    assert [r["step"] for r in evals] == [60, 120]
    assert [e["step"] for e in summary.evals] == [60, 120] and summary.evals[-1]["psnr"] == summary.psnr_val
    assert 0 < summary.evals[0]["train_seconds"] < summary.evals[1]["train_seconds"]
    scene = json.loads((run / "scene.json").read_text())
    assert scene["nodes"] == [{"name": "gaussians", "type": "gaussians", "path": "model.ply"}]
    assert len(scene["cameras"]) == 3 and Camera.from_dict(scene["cameras"][0]).width == W
    from ngfx.render.gaussian_renderable import load_gaussians_node  # noqa: F401 (registers the node type)
    from ngfx.scenes.scene_file import load_scene

    loaded = load_scene(run / "scene.json")
    assert loaded.roots[0].params["path"] == "model.ply" and len(loaded.cameras) == 3


def test_resume_is_bit_identical(static_capture, tmp_path):
    """With the deterministic torch renderer: the kernels' parallel atomics differ run to run in the last bits."""
    cfg = _config(steps=60, densify=DensifyConfig(start=10, stop=25, every=10, reset_every=20), ops="reference")
    straight = train_gaussians(static_capture, cfg, tmp_path / "straight", stream=io.StringIO())

    def stop_at_30(step, model):
        if step == 30:
            raise KeyboardInterrupt

    half = train_gaussians(static_capture, cfg, tmp_path / "split", stream=io.StringIO(), on_step=stop_at_30)
    assert half.status == "interrupted" and half.steps == 30
    resumed = train_gaussians(static_capture, cfg, tmp_path / "split", stream=io.StringIO())
    assert resumed.status == "finished" and resumed.steps == 60
    a, b = load_gaussians(tmp_path / "straight" / "model.ply"), load_gaussians(tmp_path / "split" / "model.ply")
    for name, tensor in a.parameter_dict().items():
        assert torch.equal(tensor, b.parameter_dict()[name]), name
    assert straight.psnr_val == resumed.psnr_val


@pytest.fixture(scope="module")
def dynamic_capture(tmp_path_factory):
    root = tmp_path_factory.mktemp("orbit")
    return _write_capture(root, orbiting_gaussians(200, radius=0.5, duration=1.0), {
        "train": _cameras(8, times=np.linspace(0.0, 1.0, 8)), "val": _cameras(2, offset=0.5, times=[0.25, 0.75])})


@pytest.mark.parametrize("variant", ["yang", "duan"])
def test_dynamic_training_improves(dynamic_capture, tmp_path, variant):
    assert dynamic_capture.format == "dnerf" and dynamic_capture.is_dynamic
    cfg = _config(method="gs4d", steps=50, times_per_step=2, densify=None, sh_degree=0, n_eval_views=2,
                  sh_degree_t=1)  # Yang's spherindrical harmonics: one temporal block
    if variant == "duan":  # rotor, entropy loss, Duan's densification with the time-gradient rule
        cfg = dataclasses.replace(cfg, rotation_4d="rotor", entropy_weight=1e-3, times_per_step=3,
                                  densify=DensifyConfig.duan(start=10, stop=40, every=10, reset_every=10**6),
                                  sh_degree_t=0, consistency_weight=0.05)
    summary = train_gaussians(dynamic_capture, cfg, tmp_path / "run", stream=io.StringIO())
    assert summary.status == "finished"
    assert summary.psnr_val > summary.psnr_init + 3.0, summary
    model = load_gaussians(tmp_path / "run" / "model.ply")
    assert model.time_range == (0.0, 1.0) and model.rotation == cfg.rotation_4d
    assert model.sh_degree_t == cfg.sh_degree_t
    assert model.sh_rest.shape[1] == (cfg.sh_degree_t + 1) * (cfg.sh_degree + 1) ** 2 - 1
    if cfg.sh_degree_t:  # the cos(2 pi dt / T) colour block starts at zero and must have learnt something
        assert model.sh_rest.abs().max() > 1e-3
    assert json.loads((tmp_path / "run" / "scene.json").read_text())["time"] == {"duration_s": 1.0}


def test_config_defaults_and_densify_scaling():
    cfg = GaussianTrainConfig(steps=3000)
    d = scaled_densify(cfg)
    assert (d.start, d.stop, d.every, d.reset_every, d.prune_big_from) == (50, 1500, 25, 300, 300)
    assert scaled_densify(dataclasses.replace(cfg, densify=None)) is None
    assert [cfg.sh_degree_at(s) for s in (0, 999, 1000, 5000)] == [0, 0, 1, 3]
    assert undocumented_fields(GaussianTrainConfig) == []
    with pytest.raises(ValueError):
        GaussianTrainConfig(steps=0)



def test_consistency_neighbours_are_checkpointed_and_resumed(dynamic_capture, tmp_path, monkeypatch):
    """L_4D's neighbour lists are searched again every 100 steps and after densification; a checkpoint keeps
    the lists in use, so a resume does not search again from the resumed model."""
    from ngfx.train.checkpoint import load_checkpoint
    from ngfx.train.loop import latest_checkpoint

    cfg = _config(method="gs4d", steps=30, sh_degree=0, n_eval_views=2, rotation_4d="rotor",
                  consistency_weight=0.5, densify=DensifyConfig.duan(start=10, stop=20, every=10,
                                                                     reset_every=10**6))

    def stop_at_25(step, model):
        if step == 25:
            raise KeyboardInterrupt

    half = train_gaussians(dynamic_capture, cfg, tmp_path / "run", stream=io.StringIO(), on_step=stop_at_25)
    state = load_checkpoint(latest_checkpoint(tmp_path / "run"))["state"]
    saved = state["consistency"]
    assert 0 <= saved["refreshed_at"] < 25  # searched at step 0 and again after any densification
    assert saved["neighbours"].shape == (half.n_gaussians, cfg.consistency_k)
    import ngfx.splatting.consistency as consistency

    searches, search = [], consistency.knn_indices
    monkeypatch.setattr(consistency, "knn_indices", lambda *a, **k: searches.append(1) or search(*a, **k))
    assert train_gaussians(dynamic_capture, cfg, tmp_path / "run", stream=io.StringIO()).steps == 30
    assert searches == []  # steps 25-29 used the restored lists (densification stopped at step 20)


def test_near_plane_applies_to_training_and_to_the_run_cameras(static_capture, tmp_path):
    """near_plane culls Gaussians nearer than it: past the whole scene (the shell sits 1.1-2.1 from the
    cameras), every render is empty, so nothing trains; the run's cameras carry the plane for `ngfx render`."""
    cfg = _config(steps=20, densify=None, near_plane=3.0)
    summary = train_gaussians(static_capture, cfg, tmp_path / "run", stream=io.StringIO())
    assert summary.psnr_val == pytest.approx(summary.psnr_init, abs=1e-6)  # no Gaussian drawn, no gradient
    scene = json.loads((tmp_path / "run" / "scene.json").read_text())
    assert {c["near"] for c in scene["cameras"]} == {3.0}
    with pytest.raises(ValueError, match="near_plane"):
        GaussianTrainConfig(near_plane=-1.0)


def test_cpu_runs_get_a_downscale_hint():
    from ngfx.splatting.trainer import _slow_hint

    hint = _slow_hint("cpu", (378, 504, 3), 1)
    assert "CPU at 504x378" in hint and "--downscale 2" in hint and "252x189" in hint
    assert "--downscale 4" in _slow_hint("cpu", (189, 252, 3), 2)
    assert _slow_hint("cuda", (378, 504, 3), 1) is None
