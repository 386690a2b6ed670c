"""Procedural meshes (outward, unit normals, UVs in range, right volumes) and procedural textures."""

import math

import numpy as np
import pytest

from ngfx.errors import InputError
from ngfx.scenes.primitives import (
    box,
    checker_texture,
    cylinder,
    gradient_texture,
    make_primitive,
    make_texture,
    plane,
    stripes_texture,
    torus,
    uv_sphere,
)

CLOSED = {
    "sphere": (lambda: uv_sphere(radius=0.5, segments=48, rings=24), 4 / 3 * math.pi * 0.5**3, 0.01),
    "box": (lambda: box(size=(1.0, 2.0, 3.0)), 6.0, 1e-6),
    "torus": (lambda: torus(1.0, 0.25, major_segments=96, minor_segments=48), 2 * math.pi**2 * 0.25**2, 0.01),
    "cylinder": (lambda: cylinder(radius=0.5, height=2.0, segments=64), math.pi * 0.25 * 2.0, 0.01),
}


def face_normals(mesh) -> np.ndarray:
    v = mesh.vertices.astype(np.float64)
    a, b, c = (v[mesh.faces[:, k]] for k in range(3))
    return np.cross(b - a, c - a)


def signed_volume(mesh) -> float:
    """Sum of origin-apex tetrahedra: the enclosed volume, positive when triangles face outwards."""
    v = mesh.vertices.astype(np.float64)
    a, b, c = (v[mesh.faces[:, k]] for k in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6)


@pytest.mark.parametrize("name", sorted(CLOSED))
def test_closed_meshes_face_outwards_with_the_right_volume(name):
    make, volume, rtol = CLOSED[name]
    mesh = make()
    assert signed_volume(mesh) > 0
    assert signed_volume(mesh) == pytest.approx(volume, rel=rtol)
    fn = face_normals(mesh)
    assert np.all(np.linalg.norm(fn, axis=1) > 1e-9), "degenerate triangles"
    # Vertex normals agree with the winding: every face's mean vertex normal points the face's way.
    mean_vertex_normal = mesh.vertex_normals[mesh.faces].mean(axis=1)
    assert np.all(np.einsum("ij,ij->i", fn, mean_vertex_normal) > 0)


@pytest.mark.parametrize("make", [uv_sphere, box, torus, cylinder, plane])
def test_normals_unit_and_uvs_in_range(make):
    mesh = make()
    np.testing.assert_allclose(np.linalg.norm(mesh.vertex_normals, axis=1), 1.0, atol=1e-6)
    assert mesh.corner_uvs.shape == (len(mesh.faces), 3, 2)
    assert mesh.corner_uvs.min() >= 0 and mesh.corner_uvs.max() <= 1
    assert mesh.vertex_colors is None and mesh.material.texture is None


def test_sphere_normals_are_radial():
    mesh = uv_sphere(radius=2.0)
    np.testing.assert_allclose(mesh.vertex_normals * 2.0, mesh.vertices, atol=1e-5)


def test_plane_faces_up_counter_clockwise_from_above():
    mesh = plane(size=(4.0, 2.0), subdivisions=3)
    assert mesh.faces.shape == (18, 3)
    fn = face_normals(mesh)
    np.testing.assert_allclose(fn / np.linalg.norm(fn, axis=1, keepdims=True), np.tile([0, 1, 0], (18, 1)), atol=1e-7)
    np.testing.assert_allclose(mesh.vertices[:, 1], 0.0)
    lo, hi = mesh.bounds()
    np.testing.assert_allclose([lo, hi], [[-2, 0, -1], [2, 0, 1]], atol=1e-6)
    # u grows with +x and v grows towards -z.
    far_corner = np.argmin(mesh.vertices[:, 0] + mesh.vertices[:, 2])  # x = -2, z = -1
    uv = mesh.corner_uvs.reshape(-1, 2)[np.flatnonzero(mesh.faces.ravel() == far_corner)[0]]
    np.testing.assert_allclose(uv, [0.0, 1.0], atol=1e-7)


def test_make_primitive_from_json_and_errors():
    assert make_primitive({"shape": "torus", "major_segments": 8, "minor_segments": 4}).faces.shape == (64, 3)
    with pytest.raises(InputError, match="unknown shape 'cone'.*box, cylinder, plane, sphere, torus") as info:
        make_primitive({"shape": "cone"})
    assert info.value.field == "shape"
    with pytest.raises(InputError, match="no parameter 'radius'.*major_radius") as info:
        make_primitive({"shape": "torus", "radius": 1})
    assert info.value.field == "radius"
    for bad in ({"shape": "sphere", "radius": -1}, {"shape": "sphere", "segments": 2.5},
                {"shape": "box", "size": [1, 1]}, {"shape": "plane", "subdivisions": True}):
        with pytest.raises(InputError):
            make_primitive(bad)
    with pytest.raises(InputError, match="shape"):
        make_primitive({"radius": 1})


def test_checker_texture():
    light, dark = (1.0, 0.5, 0.0), (0.0, 0.25, 1.0)
    tex = checker_texture(squares=4, colors=(light, dark), size=16)
    assert tex.shape == (16, 16, 3) and tex.dtype == np.float32
    np.testing.assert_allclose(tex[0, 0], light)
    np.testing.assert_allclose(tex[0, 4], dark)
    np.testing.assert_allclose(tex[4, 0], dark)
    np.testing.assert_allclose(tex[5, 5], light)
    np.testing.assert_allclose(tex[15, 15], light)
    assert np.isclose(tex[..., 0], 1.0).sum() == 128  # half the texels


def test_stripes_and_gradient_textures():
    stripes = stripes_texture(stripes=2, colors=((1, 1, 1), (0, 0, 0)), size=8)
    np.testing.assert_allclose(stripes[:, :4], 1.0)
    np.testing.assert_allclose(stripes[:, 4:], 0.0)
    across = stripes_texture(stripes=2, colors=((1, 1, 1), (0, 0, 0)), size=8, vertical=False)
    np.testing.assert_allclose(across[4:, :], 0.0)
    grad = gradient_texture(colors=((1, 0, 0), (0, 0, 1)), size=5)
    np.testing.assert_allclose(grad[0, 3], [1, 0, 0])  # top row: colors[0]
    np.testing.assert_allclose(grad[-1, 3], [0, 0, 1])
    np.testing.assert_allclose(grad[2, 0], [0.5, 0, 0.5])


def test_make_texture_from_json_and_errors():
    tex = make_texture({"procedural": "checker", "squares": 2, "size": 4, "colors": [[1, 1, 1], [0, 0, 0]]})
    np.testing.assert_allclose(tex[0, 0], [1, 1, 1])
    with pytest.raises(InputError, match="unknown texture 'noise'"):
        make_texture({"procedural": "noise"})
    with pytest.raises(InputError) as info:
        make_texture({"procedural": "checker", "colors": [[1, 1, 1], [0, 0, 2]]})
    assert info.value.field == "colors[1]"
    with pytest.raises(InputError) as info:
        make_texture({"procedural": "checker", "colors": [[1, 1, 1]]})
    assert info.value.field == "colors"
