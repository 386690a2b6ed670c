"""Gaussian PLY files: bit-exact round trips, other tools' layouts read by name, and the exact byte layout.

Files from other tools are built by hand (`tests.splatting.write_ply`, numpy only), so the reader is checked
against the format rather than against ngfx's own writer. Bad files are in test_ply_errors.py.
"""

import math

import numpy as np
import pytest
import torch

from ngfx.splatting import Gaussians3D, Gaussians4D, load_gaussians, save_gaussians
from tests.splatting import (
    inria_names,
    random_columns,
    random_gaussians_3d,
    random_gaussians_4d,
    read_raw,
    write_ply,
)


def assert_matches_columns(model: Gaussians3D, columns: dict, degree: int):
    """Each model field holds exactly the named columns; f_rest channel-major (REFERENCE 1.9)."""
    col = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in columns.items()}
    assert model.sh_degree == degree
    assert torch.equal(model.means, torch.stack([col["x"], col["y"], col["z"]], 1))
    assert torch.equal(model.log_scales, torch.stack([col[f"scale_{i}"] for i in range(3)], 1))
    assert torch.equal(model.quats, torch.stack([col[f"rot_{i}"] for i in range(4)], 1))
    assert torch.equal(model.opacity_logits, col["opacity"])
    assert torch.equal(model.sh_dc[:, 0], torch.stack([col[f"f_dc_{i}"] for i in range(3)], 1))
    rest = (degree + 1) ** 2 - 1
    for k in range(rest):
        for c in range(3):
            assert torch.equal(model.sh_rest[:, k, c], col[f"f_rest_{c * rest + k}"]), (k, c)


CASES = [(kind, degree, normals) for kind in ("3d", "dualquat", "rotor") for degree in range(4)
         for normals in (True, False)]


@pytest.mark.parametrize("kind, degree, normals", CASES)
def test_round_trip_is_bit_exact(tmp_path, kind, degree, normals):
    mode = "antialiased" if degree % 2 else "classic"
    if kind == "3d":
        model = random_gaussians_3d(9, degree, seed=degree, render_mode=mode)
    else:
        model = random_gaussians_4d(9, degree, degree % 3, rotation=kind, seed=degree, render_mode=mode,
                                    time_range=(-0.1, 1.0 / 3.0))
    first, second = tmp_path / "a.ply", tmp_path / "b.ply"
    save_gaussians(first, model, normals=normals)
    loaded = load_gaussians(first)
    assert type(loaded) is type(model) and loaded.render_mode == mode
    for name, tensor in model.parameter_dict().items():
        got = getattr(loaded, name)
        assert got.dtype == torch.float32 and got.numpy().tobytes() == tensor.numpy().tobytes(), name
    if kind != "3d":
        assert (loaded.rotation, loaded.sh_degree_t, loaded.time_range) == (kind, degree % 3, (-0.1, 1.0 / 3.0))
    save_gaussians(second, loaded, normals=normals)
    assert first.read_bytes() == second.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ply", "b.ply"], "temporary files left behind"


@pytest.mark.parametrize("degree, normals, floats", [(3, True, 62), (3, False, 59), (0, False, 14), (1, True, 26)])
def test_written_layout_is_inria_order_and_size(tmp_path, degree, normals, floats):
    path = tmp_path / "m.ply"
    save_gaussians(path, random_gaussians_3d(5, degree, render_mode="antialiased"), normals=normals)
    comments, names, body = read_raw(path)
    assert names == inria_names(degree, normals) and len(names) == floats
    assert comments == ["ngfx render_mode=antialiased"]
    assert path.read_bytes().startswith(b"ply\nformat binary_little_endian 1.0\ncomment ngfx render_mode=")
    header_size = path.read_bytes().index(b"end_header\n") + len(b"end_header\n")
    assert body.shape == (5, floats) and path.stat().st_size == header_size + 5 * 4 * floats
    if normals:
        assert np.all(body[:, 3:6] == 0), "INRIA writes zero normals"


@pytest.mark.parametrize("degree, normals", [(3, True), (3, False), (0, False), (2, True)],
                         ids=["inria-sh3", "gsplat-sh3-no-normals", "sh0-no-normals-no-frest", "sh2"])
def test_reads_hand_built_layouts(tmp_path, degree, normals):
    columns = random_columns(inria_names(degree, normals), seed=degree)
    model = load_gaussians(write_ply(tmp_path / "m.ply", columns))
    assert isinstance(model, Gaussians3D) and model.render_mode == "classic"
    assert_matches_columns(model, columns, degree)


def test_f_rest_is_channel_major(tmp_path):
    columns = random_columns(inria_names(3, normals=False), n=2)
    for i in range(45):
        columns[f"f_rest_{i}"] = np.array([i, 1000 + i], dtype=np.float32)
    model = load_gaussians(write_ply(tmp_path / "m.ply", columns))
    # entries 0-14 are red for SH 1..15, 15-29 green, 30-44 blue
    assert model.sh_rest[0, 0].tolist() == [0, 15, 30] and model.sh_rest[0, 14].tolist() == [14, 29, 44]
    assert model.sh_rest[1, 4].tolist() == [1004, 1019, 1034]
    written = tmp_path / "w.ply"
    save_gaussians(written, model, normals=False)
    _, names, body = read_raw(written)
    first = names.index("f_rest_0")
    assert body[:, first:first + 45].tolist() == [list(range(45)), list(range(1000, 1045))]


def test_shuffled_order_other_types_and_extra_properties(tmp_path):
    names = inria_names(1)
    columns = random_columns(names, n=5, seed=4)
    columns["opacity"] = np.array([-3, -1, 0, 2, 7], dtype=np.float32)  # ints, so int storage is exact
    columns["red"] = np.arange(5, dtype=np.uint8) * 50  # an extra property of another type
    shuffled = {name: columns[name] for name in np.random.default_rng(0).permutation(list(columns))}
    types = {"x": "double", "scale_1": "double", "red": "uchar", "opacity": "int"}
    model = load_gaussians(write_ply(tmp_path / "m.ply", shuffled, types=types, fmt="binary_big_endian"))
    assert_matches_columns(model, columns, 1)


@pytest.mark.parametrize("fmt", ["ascii", "binary_big_endian"])
def test_ascii_and_big_endian_files(tmp_path, fmt):
    columns = random_columns(inria_names(2), n=4)
    model = load_gaussians(write_ply(tmp_path / "m.ply", columns, fmt=fmt))
    assert_matches_columns(model, columns, 2)


@pytest.mark.parametrize("fmt", ["binary_little_endian", "ascii"])
def test_other_elements_around_vertex(tmp_path, fmt):
    """A fixed-size element before the vertices is skipped; a face list after them is ignored."""
    columns = random_columns(inria_names(0, normals=False), n=3)
    path = write_ply(tmp_path / "m.ply", columns, fmt=fmt, before="element camera 2\nproperty double fx",
                     after="element face 1\nproperty list uchar int vertex_indices")
    header, body = path.read_bytes().split(b"end_header\n")
    camera = b"1.5\n2.5\n" if fmt == "ascii" else np.array([1.5, 2.5]).astype("<f8").tobytes()
    face = b"3 0 1 2\n" if fmt == "ascii" else bytes([3]) + np.array([0, 1, 2], "<i4").tobytes()
    path.write_bytes(header + b"end_header\n" + camera + body + face)
    assert_matches_columns(load_gaussians(path), columns, 0)


@pytest.mark.parametrize("rotation, tail", [("dualquat", ["rot_r_0", "rot_r_1", "rot_r_2", "rot_r_3"]),
                                            ("rotor", ["rotor_4", "rotor_5", "rotor_6", "rotor_7"])])
def test_4d_layout(tmp_path, rotation, tail):
    model = random_gaussians_4d(3, sh_degree=1, sh_degree_t=2, rotation=rotation, time_range=(0.0, 2.5))
    rows = torch.arange(12, dtype=torch.float32)[None, :, None] + 100 * torch.arange(3.0)  # 100 c + row
    model = Gaussians4D(**{**model.__dict__, "sh_dc": rows[:, :1].expand(3, 1, 3).clone(),
                           "sh_rest": rows[:, 1:].expand(3, 11, 3).clone()})
    path = tmp_path / "d.ply"
    save_gaussians(path, model)
    comments, names, body = read_raw(path)
    assert comments == ["ngfx render_mode=classic", f"ngfx_4d={rotation} sh_t=2 time_range=0.0,2.5"]
    assert names == inria_names(1)[:-8] + [f"f_rest_{i}" for i in range(9, 33)] + inria_names(1)[-8:] + [
        "t", "scale_t", *tail]
    f_rest = body[0, names.index("f_rest_0"):names.index("f_rest_32") + 1]
    bases = 4
    for c in range(3):
        for k in range(1, bases):  # block 0: its spatial rest, exactly as in 3D
            assert f_rest[c * (bases - 1) + k - 1] == 100 * c + k
        for n in (1, 2):
            for k in range(bases):
                assert f_rest[3 * (bases - 1) + 3 * bases * (n - 1) + c * bases + k] == 100 * c + n * bases + k
    rotations = model.rotations.numpy()
    assert np.array_equal(body[:, names.index("rot_0"):names.index("rot_3") + 1], rotations[:, :4])
    assert np.array_equal(body[:, names.index(tail[0]):], rotations[:, 4:])
    assert np.array_equal(body[:, names.index("t")], model.means4[:, 3].numpy())
    assert np.array_equal(body[:, names.index("scale_t")], model.log_scales[:, 3].numpy())


def test_float64_models_are_stored_as_float32(tmp_path):
    model = random_gaussians_3d(4, 1, dtype=torch.float64)
    save_gaussians(tmp_path / "m.ply", model)
    loaded = load_gaussians(tmp_path / "m.ply")
    assert torch.equal(loaded.means, model.means.float()) and loaded.means.dtype == torch.float32


def test_shared_data_plys(shared_data, tmp_path):
    plys = sorted(shared_data.rglob("*.ply"))
    if not plys:
        pytest.skip(f"no .ply file in {shared_data} (a trained INRIA/gsplat export would go there)")
    for path in plys:
        model = load_gaussians(path)
        save_gaussians(tmp_path / path.name, model)
        again = load_gaussians(tmp_path / path.name)
        assert all(torch.equal(getattr(again, k), v) for k, v in model.parameter_dict().items()), path


def test_garden_points_round_trip(shared_data, tmp_path):
    """A real-scene-sized model (138k Gaussians at the garden's points and colours) survives a round trip."""
    garden = shared_data / "gsplat-garden" / "test_garden.npz"
    if not garden.is_file():
        pytest.skip(f"{garden} is absent")
    data = np.load(garden)
    means = torch.from_numpy(data["means3d"].astype(np.float32))
    n = len(means)
    colors = torch.from_numpy(data["colors"][:, :3].astype(np.float32) / 255)
    model = Gaussians3D(means=means, log_scales=torch.full((n, 3), math.log(0.01)),
                        quats=torch.eye(4)[:1].repeat(n, 1),
                        opacity_logits=torch.zeros(n), sh_dc=((colors - 0.5) / 0.28209479177387814)[:, None],
                        sh_rest=torch.zeros(n, 15, 3))
    save_gaussians(tmp_path / "garden.ply", model, normals=False)
    loaded = load_gaussians(tmp_path / "garden.ply")
    assert all(torch.equal(getattr(loaded, k), v) for k, v in model.parameter_dict().items())
    lo, hi = loaded.bounds()
    assert np.all(hi > lo) and np.all(lo >= means.min(0).values.numpy())
