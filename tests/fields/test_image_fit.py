"""fit_image on a small procedural image: PSNR rises well above the untrained field's, resume continues bit
for bit, renders at other resolutions and regions, linear EXR runs, the bilinear targets, run-folder errors."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from ngfx.errors import InputError
from ngfx.fields.image_fit import ImageFitConfig, fit_image, load_image_run, render_image_field, to_display
from ngfx.fields.image_sampling import ImageTargets, pixel_uv
from ngfx.scenes.image_file import LoadedImage, load_image, save_image
from ngfx.train.progress import read_jsonl
from tests.helpers import assert_close

OPS = "reference"  # the torch twins, deterministic on CPU (bit-identical resume); one test runs the kernels
CFG = ImageFitConfig(steps=150, batch_size=4096, log2_table_size=12, n_levels=8, width=32, lr=1e-2,
                     checkpoint_every=50, log_every=25, eval_every=75, ops=OPS)


def _procedural(width=64, height=48) -> np.ndarray:
    """RGB with smooth gradients, a hard-edged disc and a thin bar: low and high frequencies."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = (x + 0.5) / width, (y + 0.5) / height
    rgb = np.stack([u, v, 0.5 + 0.4 * np.sin(6.0 * u) * np.cos(4.0 * v)], -1)
    disc = (u - 0.35) ** 2 + (v - 0.5) ** 2 < 0.2**2
    rgb[disc] = [0.95, 0.1, 0.2]
    rgb[:, 44:47] = [0.05, 0.05, 0.9]
    return rgb.astype(np.float32)


@pytest.fixture(scope="module")
def png_image(tmp_path_factory) -> LoadedImage:
    path = tmp_path_factory.mktemp("img") / "procedural.png"
    save_image(path, _procedural())
    return load_image(path)


@pytest.fixture(scope="module")
def trained(png_image, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "fit"
    return fit_image(png_image, CFG, run, progress=False), run


def test_psnr_rises_and_the_run_folder_is_complete(trained):
    summary, run = trained
    assert summary.status == "finished" and summary.steps == CFG.steps
    assert summary.psnr > summary.psnr_init + 15.0, f"PSNR {summary.psnr_init:.2f} -> {summary.psnr:.2f} dB"
    assert [e["step"] for e in summary.evals] == [75, 150]
    for name in ("config.json", "image.json", "metrics.jsonl", "field.pt", "checkpoints/step-00000150.pt"):
        assert (run / name).is_file(), name
    logged = [r for r in read_jsonl(run / "metrics.jsonl") if "psnr" in r and "step" in r]
    assert len(logged) == CFG.steps // CFG.log_every and logged[-1]["psnr"] > summary.psnr_init + 5
    meta = json.loads((run / "image.json").read_text())
    assert meta["width"] == 64 and meta["height"] == 48 and meta["is_linear"] is False
    assert json.loads((run / "config.json").read_text())["log2_table_size"] == 12


def test_taichi_kernels_train_like_the_torch_twins(png_image, trained, tmp_path, cpu_arch):
    reference, _ = trained
    summary = fit_image(png_image, dataclasses.replace(CFG, ops="kernels"), tmp_path / "run", progress=False)
    assert summary.status == "finished"
    # parallel float atomics reorder sums, so the runs agree closely rather than bit for bit
    assert abs(summary.psnr - reference.psnr) < 0.5, (summary.psnr, reference.psnr)
    field, _ = load_image_run(tmp_path / "run", device="cpu")  # ops="kernels" by default
    assert field.ops == "kernels" and render_image_field(field, 20, 15).std() > 0.1


def test_resume_continues_bit_for_bit(png_image, trained, tmp_path):
    _, full_run = trained
    cut = dataclasses.replace(CFG, steps=100)
    first = fit_image(png_image, cut, tmp_path / "run", progress=False)
    assert first.steps == 100
    resumed = fit_image(png_image, CFG, tmp_path / "run", progress=False)
    assert resumed.steps == CFG.steps and resumed.status == "finished"
    assert any(r.get("event") == "resume" for r in read_jsonl(tmp_path / "run" / "metrics.jsonl"))
    a, _ = load_image_run(tmp_path / "run", ops=OPS, device="cpu")
    b, _ = load_image_run(full_run, ops=OPS, device="cpu")
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), f"{name} differs from the uninterrupted run"


def test_render_at_other_resolutions_and_regions(png_image, trained):
    _, run = trained
    field, meta = load_image_run(run, ops=OPS, device="cpu")
    assert (meta.width, meta.height, meta.channels, meta.is_linear) == (64, 48, 3, False)
    big = render_image_field(field, 100, 75, chunk=1000)
    assert big.shape == (75, 100, 3) and big.dtype == torch.float32
    assert big.std() > 0.1 and 0 <= big.min() and big.max() <= 1, "an image, not a flat colour"
    native = render_image_field(field, 64, 48)
    assert (native - torch.from_numpy(png_image.pixels)).abs().mean() < 0.08, "native render is the image"
    # the right half of the uv square at half width lands on the same pixel centres as the native render
    half = render_image_field(field, 32, 48, region=(0.5, 0.0, 1.0, 1.0))
    assert_close(half, native[:, 32:], rtol=0, atol=1e-6, msg="region render")


def test_linear_exr_trains_on_linear_values(tmp_path):
    pytest.importorskip("OpenEXR")
    hdr = _procedural(32, 24) * 3.0  # linear radiance beyond 1
    save_image(tmp_path / "hdr.exr", hdr)
    image = load_image(tmp_path / "hdr.exr")
    cfg = dataclasses.replace(CFG, steps=40, eval_every=0, checkpoint_every=0)
    summary = fit_image(image, cfg, tmp_path / "run", progress=False)
    field, meta = load_image_run(tmp_path / "run", ops=OPS, device="cpu")
    assert meta.is_linear and meta.source_bits == 32
    assert field.mlp_cfg.output_activation == "none", "a sigmoid cannot reach HDR values"
    assert summary.psnr > summary.psnr_init
    shown = to_display(render_image_field(field, 32, 24), meta.is_linear)
    assert 0 <= shown.min() and shown.max() <= 1
    assert_close(to_display(torch.tensor([0.0, 0.0031308, 0.5, 1.0, 4.0]), True),
                 torch.tensor([0.0, 0.04045, 0.735357, 1.0, 1.0]), rtol=1e-4, atol=1e-5, msg="sRGB encode")


def test_fp16_compute_with_loss_scaling_trains(png_image, tmp_path):
    cfg = dataclasses.replace(CFG, steps=60, dtype="float16", eval_every=0, checkpoint_every=0)
    assert cfg.effective_loss_scale() == 128.0
    summary = fit_image(png_image, cfg, tmp_path / "run", progress=False)
    assert summary.status == "finished" and summary.psnr > summary.psnr_init + 10.0, summary
    field, _ = load_image_run(tmp_path / "run", ops=OPS, device="cpu")
    assert field.dtype == "float16" and field.grid.table.dtype == torch.float32


def test_bilinear_targets_and_pixel_centres():
    pixels = np.arange(4 * 3 * 3, dtype=np.float32).reshape(3, 4, 3) / 255  # exact bytes
    image = LoadedImage(pixels=pixels, is_linear=False, source_bits=8)
    targets = ImageTargets(image, "cpu")
    assert targets.rows.dtype == torch.uint8
    index = torch.arange(12)
    assert torch.equal(targets.sample(pixel_uv(index, 4, 3)), torch.from_numpy(pixels).view(12, 3))
    mid = targets.sample(torch.tensor([[1.0 / 4, 0.5 / 3], [0.0, 0.0], [1.0, 1.0]]))  # between (0,0), (1,0)
    assert_close(mid[0], torch.from_numpy((pixels[0, 0] + pixels[0, 1]) / 2), msg="halfway between centres")
    assert_close(mid[1], torch.from_numpy(pixels[0, 0]), msg="corner clamps to the edge pixel")
    assert_close(mid[2], torch.from_numpy(pixels[2, 3]), msg="far corner")


def test_run_folder_errors(png_image, trained, tmp_path):
    _, run = trained
    other = LoadedImage(pixels=_procedural(32, 32), is_linear=False, source_bits=32)
    before = {name: (run / name).read_bytes() for name in ("image.json", "config.json")}
    with pytest.raises(InputError, match=r"fit: holds checkpoints of a different image \(64x48, 3 channels"):
        fit_image(other, dataclasses.replace(CFG, steps=CFG.steps + 1), run, progress=False)
    with pytest.raises(InputError, match=r"field trained with other settings \(log2_table_size, width\)"):
        fit_image(png_image, dataclasses.replace(CFG, log2_table_size=10, width=16), run, progress=False)
    assert before == {name: (run / name).read_bytes() for name in before}, "a refused resume changed the run"
    with pytest.raises(InputError, match="is not an image run folder"):
        load_image_run(tmp_path, ops=OPS)
