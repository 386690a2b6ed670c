"""Mesh loading through open3d: formats, textures and UVs, quads, and one-line errors for bad files."""

import shutil

import imageio.v3 as iio
import numpy as np
import pytest

from ngfx.errors import InputError
from ngfx.scenes.mesh_io import load_mesh
from tests.scenes import mesh_files


def corner_positions(mesh) -> np.ndarray:
    """[F, 3, 3] triangle corners, sorted so the check does not depend on open3d's vertex order."""
    corners = mesh.vertices[mesh.faces]
    return corners[np.lexsort(corners.reshape(len(corners), -1).T[::-1])]


def total_area(mesh) -> float:
    a, b, c = (mesh.vertices[mesh.faces[:, k]].astype(np.float64) for k in range(3))
    return float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())


@pytest.mark.parametrize("quads", [False, True])
def test_obj_with_mtl_texture_and_uvs(tmp_path, quads):
    mesh = load_mesh(mesh_files.write_textured_obj(tmp_path, quads=quads))
    assert mesh.faces.shape == (2, 3) and total_area(mesh) == pytest.approx(1.0)
    assert mesh.vertex_normals is None  # the file has none, and none are invented
    tex = mesh.material.texture
    assert tex.dtype == np.float32 and tex.shape == (4, 8, 3)
    np.testing.assert_array_equal(tex, mesh_files.TEXTURE / 255.0)  # row 0 stays the file's top row
    # Each corner's UV is (x, y) of its vertex, exactly as the vt lines say.
    np.testing.assert_allclose(mesh.corner_uvs, mesh.vertices[mesh.faces][..., :2], atol=1e-7)


def test_ply_colours_and_normals(tmp_path):
    mesh = load_mesh(mesh_files.write_ply(tmp_path / "square.ply"))
    assert mesh.faces.shape == (2, 3)
    order = np.lexsort(mesh.vertices.T[::-1])
    np.testing.assert_allclose(mesh.vertex_colors[order], mesh_files.COLORS[np.lexsort(mesh_files.SQUARE.T[::-1])],
                               atol=1e-6)
    np.testing.assert_allclose(mesh.vertex_normals, np.tile([0, 0, 1], (4, 1)), atol=1e-6)
    assert mesh.corner_uvs is None and mesh.material.texture is None


@pytest.mark.parametrize("writer", [mesh_files.write_stl, mesh_files.write_off])
def test_stl_and_off(tmp_path, writer):
    mesh = load_mesh(writer(tmp_path / f"square.{writer.__name__[6:]}"))
    np.testing.assert_allclose(corner_positions(mesh), corner_positions(
        type(mesh)(vertices=mesh_files.SQUARE, faces=mesh_files.TRIANGLES)), atol=1e-7)


def test_gltf_uvs_are_flipped_to_v_up(tmp_path):
    mesh = load_mesh(mesh_files.write_gltf(tmp_path))
    assert mesh.faces.shape == (2, 3)
    np.testing.assert_allclose(mesh.corner_uvs, mesh.vertices[mesh.faces][..., :2], atol=1e-7)
    np.testing.assert_array_equal(mesh.material.texture, mesh_files.TEXTURE / 255.0)


@pytest.mark.parametrize("name, content, needle", [
    ("missing.obj", None, "does not exist"),
    ("mesh.fbx", "x", "unsupported mesh format '.fbx'; use one of .obj, .ply"),
    ("garbage.ply", "hello", "unable to parse header"),
    ("comments.obj", "# nothing but a comment, long enough for ASSIMP to try parsing it\n", "could not read"),
    ("points.ply", ("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
                    "property float z\nend_header\n0 0 0\n"), "1 vertices but no triangles"),
    ("nan.obj", "# a mesh with a NaN vertex\nv 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n", "NaN"),
])
def test_bad_files_give_one_line_errors(tmp_path, capfd, name, content, needle):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError) as info:
        load_mesh(path)
    message = str(info.value)
    assert needle in message and str(path) in message and "\n" not in message, message
    captured = capfd.readouterr()
    assert "Open3D" not in captured.out + captured.err  # open3d's own chatter was swallowed


def test_shared_spot_texture_and_quads(shared_data, tmp_path):
    spot = shared_data / "meshes" / "spot"
    with pytest.warns(UserWarning, match="spot_texture.png"):  # no mtllib: the sibling texture is used
        triangles = load_mesh(spot / "spot_triangulated.obj")
    assert triangles.faces.shape == (5856, 3) and triangles.corner_uvs.shape == (5856, 3, 2)
    vt = np.array([line.split()[1:3] for line in (spot / "spot_triangulated.obj").read_text().splitlines()
                   if line.startswith("vt ")], dtype=np.float32)
    np.testing.assert_allclose(triangles.corner_uvs.reshape(-1, 2).min(0), vt.min(0))  # as written, not remapped
    np.testing.assert_allclose(triangles.corner_uvs.reshape(-1, 2).max(0), vt.max(0))
    png = iio.imread(spot / "spot_texture.png")[..., :3] / 255.0
    np.testing.assert_allclose(triangles.material.texture, png, atol=1e-6)  # row 0 = the image's top row
    quads = load_mesh(spot / "spot_quadrangulated.obj")
    assert quads.faces.shape == (5856, 3) and quads.corner_uvs.shape == (5856, 3, 2)
    assert total_area(quads) == pytest.approx(total_area(triangles), rel=0.01)
    # With an MTL beside a copy, the texture arrives as the PNG holds it.
    shutil.copy(spot / "spot_texture.png", tmp_path / "spot_texture.png")
    (tmp_path / "spot.mtl").write_text("newmtl spot\nmap_Kd spot_texture.png\n")
    obj = (spot / "spot_triangulated.obj").read_text()
    (tmp_path / "spot.obj").write_text("mtllib spot.mtl\nusemtl spot\n" + obj)
    textured = load_mesh(tmp_path / "spot.obj")
    np.testing.assert_allclose(textured.material.texture, png, atol=1e-6)
    np.testing.assert_allclose(textured.corner_uvs, triangles.corner_uvs)


@pytest.mark.parametrize("name", ["cow.obj", "teapot.obj", "suzanne.obj", "stanford-bunny.obj"])
def test_shared_meshes_keep_every_face(shared_data, name):
    path = shared_data / "meshes" / name
    faces = [line.split()[1:] for line in path.read_text().splitlines() if line.startswith("f ")]
    expected = sum(len(face) - 2 for face in faces)  # n-gons become n - 2 triangles
    mesh = load_mesh(path)
    assert mesh.faces.shape == (expected, 3), name
    assert np.isfinite(mesh.vertices).all()
    if mesh.vertex_normals is not None:
        np.testing.assert_allclose(np.linalg.norm(mesh.vertex_normals, axis=1), 1.0, atol=1e-3)
