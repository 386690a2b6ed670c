"""Bad Gaussian PLY files: every error names the file and the field and says what to do; unusable Gaussians
are dropped with one counted warning; a failing write leaves neither a target file nor a temporary file."""

import os
import warnings

import numpy as np
import pytest
import torch

from ngfx.errors import InputError
from ngfx.splatting import load_gaussians, save_gaussians
from tests.splatting import inria_names, random_columns, random_gaussians_3d, random_gaussians_4d, write_ply


def expect_error(path, field, *words):
    """Load `path`, expecting an InputError on `field` whose message names the file and holds `words`."""
    with pytest.raises(InputError) as info:
        load_gaussians(path)
    error = info.value
    assert str(path) in str(error) and error.field == field and error.fix, str(error)
    for word in words:
        assert word in str(error), str(error)
    return error


def columns_without(*names, degree=1, n=4):
    return {k: v for k, v in random_columns(inria_names(degree), n=n).items() if k not in names}


def test_missing_required_properties_are_named(tmp_path):
    path = write_ply(tmp_path / "m.ply", columns_without("opacity", "rot_2"))
    expect_error(path, "opacity", "missing required properties opacity, rot_2")
    path = write_ply(tmp_path / "x.ply", columns_without("x"))
    expect_error(path, "x", "missing required property x")


def test_f_rest_count_and_gaps(tmp_path):
    expect_error(write_ply(tmp_path / "a.ply", columns_without(*[f"f_rest_{i}" for i in range(42, 45)], degree=3)),
                 "f_rest", "has 42 f_rest properties", "0, 9, 24, 45")
    expect_error(write_ply(tmp_path / "b.ply", columns_without("f_rest_7", degree=3)), "f_rest_7",
                 "f_rest_7 is missing")


@pytest.mark.parametrize("data, field, words", [
    (b"", None, "not a PLY file (it is empty)"),
    (b"solid cube\nfacet normal 0 0 1\n", None, "not a PLY file"),
    (b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\n", "header", "no end_header"),
    (b"ply\nformat binary_middle_endian 1.0\nend_header\n", "header line 2", "unknown format"),
    (b"ply\nelement vertex 1\nproperty float x\nend_header\n", "header", "no format line"),
    (b"ply\nformat ascii 1.0\nelement vertex many\nend_header\n", "header line 3", "malformed element"),
    (b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float16 x\nend_header\n", "header line 4",
     "malformed property"),
    (b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float x\nend_header\n",
     "header line 5", "appears twice"),
    (b"ply\nformat ascii 1.0\nproperty float x\nend_header\n", "header line 3", "unexpected header line"),
    (b"ply\nformat ascii 1.0\nelement face 0\nend_header\n", "element vertex", "no 'vertex' element"),
    (b"ply\nformat ascii 1.0\nelement vertex 1\nproperty list uchar int idx\nend_header\n3 0 1 2\n",
     "element vertex", "list properties"),
    ((b"ply\nformat binary_little_endian 1.0\nelement face 1\nproperty list uchar int idx\nelement vertex 1\n"
     b"property float x\nend_header\n"), "element face", "list properties"),
    (b"ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nend_header\n", "element vertex", "no Gaussians"),
    (b"ply\nformat ascii 1.0\xff\nend_header\n", "header", "not ASCII"),
], ids=["empty", "stl", "no-end", "format", "no-format", "element", "type", "duplicate", "orphan", "no-vertex",
        "list", "list-before", "zero", "non-ascii"])
def test_malformed_files(tmp_path, data, field, words):
    path = tmp_path / "bad.ply"
    path.write_bytes(data)
    expect_error(path, field, words)


def test_truncated_files(tmp_path):
    path = write_ply(tmp_path / "b.ply", random_columns(inria_names(0), n=7))
    path.write_bytes(path.read_bytes()[:-10])
    expect_error(path, "element vertex", "truncated", "declares 7 rows", "only 6 complete rows")
    path = write_ply(tmp_path / "a.ply", random_columns(inria_names(0), n=7), fmt="ascii")
    path.write_bytes(path.read_bytes().rsplit(b"\n", 3)[0] + b"\n")
    expect_error(path, "element vertex", "truncated", "declares 7 rows but 5 follow")


def test_ascii_rows_must_be_numbers_of_the_right_width(tmp_path):
    path = write_ply(tmp_path / "a.ply", random_columns(inria_names(0), n=2), fmt="ascii")
    text = path.read_text()
    path.write_text(text.rstrip("\n") + " 7\n")
    expect_error(path, "element vertex", "row 1 has 18 values, expected 17")
    path.write_text(text.replace("end_header\n", "end_header\nnan? " + "1 " * 16 + "\n", 1))
    expect_error(path, "element vertex", "not a number")


def test_trailing_bytes_warn(tmp_path):
    path = write_ply(tmp_path / "m.ply", random_columns(inria_names(0), n=3))
    path.write_bytes(path.read_bytes() + b"\0" * 12)
    with pytest.warns(UserWarning, match="12 bytes after the data the header declares"):
        assert load_gaussians(path).num_gaussians == 3


def test_unusable_gaussians_are_dropped_with_one_counted_warning(tmp_path):
    columns = random_columns(inria_names(1), n=10)
    columns["x"][1] = np.nan
    columns["f_rest_5"][2] = np.inf
    columns["opacity"][3] = -np.inf
    columns["scale_2"][4] = 25.0  # exp(25) ~ 7e10 scene units
    for i in range(4):
        columns[f"rot_{i}"][5] = 0.0
    path = write_ply(tmp_path / "m.ply", columns, types={"scale_0": "double"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_gaussians(path)
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert str(caught[0].message) == (f"{path}: dropped 5 of 10 Gaussians (3 with NaN or infinite parameters, "
                                      "1 with a log scale above 20, 1 with an all-zero rotation)")
    assert caught[0].filename == __file__, "the warning should point at the caller"
    keep = [0, 6, 7, 8, 9]
    assert torch.equal(model.means[:, 0], torch.from_numpy(columns["x"][keep]))
    assert torch.equal(model.sh_rest[:, 0, 1], torch.from_numpy(columns["f_rest_3"][keep]))


def test_double_values_beyond_float32_and_all_unusable(tmp_path):
    columns = random_columns(inria_names(0), n=2)
    columns["y"] = np.array([1e39, 1e300])  # finite doubles, infinite as float32
    path = write_ply(tmp_path / "m.ply", columns, types={"y": "double"})
    with pytest.warns(UserWarning, match="dropped 2 of 2 Gaussians"):
        expect_error(path, "element vertex", "all 2 Gaussians are unusable")


def test_dualquat_needs_both_quaternions(tmp_path):
    model = random_gaussians_4d(3, sh_degree=0, sh_degree_t=0, rotation="dualquat")
    model.rotations[1, 4:] = 0
    save_gaussians(tmp_path / "d.ply", model)
    with pytest.warns(UserWarning, match="dropped 1 of 3 Gaussians \\(1 with an all-zero rotation\\)"):
        assert load_gaussians(tmp_path / "d.ply").num_gaussians == 2


@pytest.mark.parametrize("comment, field, words", [
    ("ngfx_4d=euler sh_t=0 time_range=0,1", "comment ngfx_4d", "unknown 4D rotation 'euler'"),
    ("ngfx_4d=rotor sh_t=0", "comment ngfx_4d", "missing time_range"),
    ("ngfx_4d=rotor sh_t=-1 time_range=0,1", "comment ngfx_4d", "sh_t must be a whole number"),
    ("ngfx_4d=rotor sh_t=0 time_range=2,1", "comment ngfx_4d", "t_start < t_end"),
    ("ngfx_4d=rotor sh_t=0 time_range=a,b", "comment ngfx_4d", "time_range must be"),
    ("ngfx_4d=rotor sh_t=0 time_range=0,1,2", "comment ngfx_4d", "time_range must be"),
    ("ngfx_4d=dualquat sh_t=0 time_range=0,1", "rot_r_0", "missing required properties rot_r_0, rot_r_1"),
    ("ngfx_4d=rotor sh_t=1 time_range=0,1", "f_rest",
     "9 f_rest properties, which fits no SH degree 0..3 (expected one of 3, 21, 51, 93)"),
    ("ngfx render_mode=mip", "comment ngfx", "unknown render_mode 'mip'"),
    ("made by another tool", "t", "no 'comment ngfx_4d=...' header line"),
])
def test_4d_header_problems(tmp_path, comment, field, words):
    path = tmp_path / "r.ply"
    save_gaussians(path, random_gaussians_4d(2, sh_degree=1, sh_degree_t=0, rotation="rotor"))
    data = path.read_bytes()
    start = data.index(b"comment ngfx_4d")
    path.write_bytes(data[:start] + f"comment {comment}".encode() + data[data.index(b"\n", start):])
    expect_error(path, field, words)


def test_missing_file_and_folder(tmp_path):
    expect_error(tmp_path / "nope.ply", None, "does not exist")
    expect_error(tmp_path, None, "is a folder")


def test_saving_an_empty_model_or_into_a_missing_folder(tmp_path):
    empty = random_gaussians_3d(3).select(torch.zeros(3, dtype=torch.bool))
    with pytest.raises(InputError, match="no Gaussians"):
        save_gaussians(tmp_path / "e.ply", empty)
    with pytest.raises(InputError, match="cannot write in this folder") as info:
        save_gaussians(tmp_path / "missing" / "m.ply", random_gaussians_3d(3))
    assert str(tmp_path / "missing" / "m.ply") in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("existing", [False, True])
@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_failing_write_leaves_no_half_written_file(tmp_path, monkeypatch, existing, failure):
    target = tmp_path / "m.ply"
    if existing:
        target.write_bytes(b"the previous model")

    def fail(fd):
        assert os.fstat(fd).st_size > 0, "the failure should come after data was written"
        raise failure

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(InputError if isinstance(failure, OSError) else KeyboardInterrupt) as info:
        save_gaussians(target, random_gaussians_3d(5))
    if isinstance(failure, OSError):
        assert "No space left on device" in str(info.value) and str(target) in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == (["m.ply"] if existing else [])
    if existing:
        assert target.read_bytes() == b"the previous model"
