"""`ngfx bench train` end to end on its data-free demo case, and its input errors."""

import json

import imageio.v3 as iio

from tests.cli.cli_inputs import assert_one_line_error, run_ngfx


def test_bench_train_demo_case_writes_rows_evals_and_a_picture(capfd, tmp_path):
    result = run_ngfx(capfd, "bench", "train", "--cases", "demo", "--budget", "60", "--steps", "12",
                      "--out", tmp_path / "train.json")
    assert result.code == 0, result.err
    record = json.loads((tmp_path / "train.json").read_text())
    assert record["suite"] == "train" and record["arch"] == "cpu"
    (row,) = record["rows"]
    assert row["case"] == "demo" and row["steps"] == 12 and row["planned_steps"] == 12
    assert (row["width"], row["height"], row["train_views"], row["held_out_views"]) == (64, 48, 21, 3)
    assert row["evals"][-1]["step"] == 12 and row["evals"][-1]["psnr"] == row["psnr"]
    assert row["psnr"] > row["psnr_init"], row  # 12 steps already beat the untrained model
    assert set(row["stage_seconds"]) == {"render", "loss", "backward", "optimizer", "densify"}
    assert all(v > 0 for k, v in row["stage_seconds"].items() if k != "densify"), row["stage_seconds"]
    picture = iio.imread(tmp_path / "train-demo.png")
    assert picture.shape == (2 * 48, 2 * 64, 3)
    photo, render = picture[48:].astype(float), picture[:48].astype(float)
    assert photo.std() > 10 and render.std() > 1  # neither half is blank
    assert (tmp_path / "train-runs" / "demo" / "model.ply").is_file()
    assert "demo gs3d 64x48" in result.out


def test_bench_train_unknown_case_and_missing_data(capfd, tmp_path):
    line = assert_one_line_error(run_ngfx(capfd, "bench", "train", "--cases", "lego,nope", "--out",
                                          tmp_path / "t.json"), "--cases")
    assert "lego, fox, panoptic, demo" in line
    line = assert_one_line_error(run_ngfx(capfd, "bench", "train", "--cases", "fox", "--data", tmp_path,
                                          "--out", tmp_path / "t.json"), str(tmp_path / "fox"))
    assert "--data" in line
    line = assert_one_line_error(run_ngfx(capfd, "bench", "train", "--cases", "demo", "--budget", "0",
                                          "--out", tmp_path / "t.json"), "--budget")
    assert not (tmp_path / "t.json").exists()
