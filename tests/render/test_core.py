"""Render core: depth compositing, the shared mesh z-buffer, shading, node transforms, textures."""

import numpy as np
import pytest
import torch

from ngfx.render.core import SceneRenderer, composite
from ngfx.render.mesh_renderable import MeshRenderable, render_meshes
from ngfx.scenes.camera import Camera
from ngfx.scenes.mesh import Material, TriMesh
from ngfx.scenes.renderable import Light, RenderContext, RenderOutput
from tests.helpers import assert_close

W, H = 40, 30


def front_camera(**kw) -> Camera:
    """At the origin looking down +z (OpenCV), so camera and world frames agree."""
    K = np.array([[30.0, 0, W / 2], [0, 30.0, H / 2], [0, 0, 1]])
    return Camera(K=K, width=W, height=H, T_camera_world=np.eye(4), near=0.1, far=100.0, **kw)


def quad(z: float, size: float = 10.0, color=(0.8, 0.8, 0.8), texture=None) -> TriMesh:
    """A square facing the camera (counter-clockwise as seen from it) at depth z, with UVs (v up = -y)."""
    s = size / 2
    verts = np.array([[-s, -s, z], [s, -s, z], [s, s, z], [-s, s, z]])
    faces = np.array([[0, 2, 1], [0, 3, 2]])
    uv = np.array([[0, 1], [1, 1], [1, 0], [0, 0.0]])  # image top (-y) is v = 1
    return TriMesh(vertices=verts, faces=faces, corner_uvs=uv[faces], material=Material(color=color, texture=texture))


def layer(depth, alpha, rgb) -> RenderOutput:
    return RenderOutput(rgb=torch.full((2, 2, 3), rgb) * alpha, depth=torch.full((2, 2), depth),
                        alpha=torch.full((2, 2), alpha))


def test_composite_is_order_independent_and_blends_front_to_back():
    near, far = layer(1.0, 0.5, 1.0), layer(2.0, 1.0, 0.2)
    a = composite([near, far], (0, 0, 0), 2, 2, "cpu")
    b = composite([far, near], (0, 0, 0), 2, 2, "cpu")
    assert_close(a.rgb, b.rgb)
    assert_close(a.rgb, torch.full((2, 2, 3), 0.5 * 1.0 + 0.5 * 0.2))
    assert_close(a.depth, torch.full((2, 2), 1.0))
    empty = composite([], (0.1, 0.2, 0.3), 2, 2, "cpu")
    assert torch.isinf(empty.depth).all() and (empty.alpha == 0).all()
    assert_close(empty.rgb[0, 0], torch.tensor([0.1, 0.2, 0.3]))


def test_one_zbuffer_equals_compositing_separate_meshes(cpu_arch):
    g = np.random.default_rng(0)
    meshes = []
    for k in range(3):
        v = g.normal(size=(30, 3)) * 0.8 + [0, 0, 4 + k * 0.3]
        meshes.append(MeshRenderable(TriMesh(vertices=v, faces=np.arange(30).reshape(10, 3),
                                             material=Material(color=tuple(g.uniform(size=3))))))
    cam, ctx = front_camera(), RenderContext()
    together = render_meshes([(m, np.eye(4)) for m in meshes], cam, ctx)
    apart = composite([m.render(cam, 0.0, ctx) for m in meshes], (0, 0, 0), H, W, "cpu")
    assert together.alpha.mean() > 0.2, "test image is nearly empty"
    assert_close(together.depth, apart.depth)
    assert_close(together.rgb, apart.rgb, atol=1e-6)


def test_renderable_uses_the_camera_pose(cpu_arch):
    """Rendering from a posed camera equals rendering the moved vertices from an identity camera."""
    box = TriMesh(vertices=np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float),
                  faces=np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]]))
    posed = Camera.look_at([2.0, 1.5, -4.0], [0, 0, 0], width=W, height=H, fov_y_deg=50)
    T = posed.T_camera_world
    moved = TriMesh(vertices=box.vertices @ T[:3, :3].T + T[:3, 3], faces=box.faces)
    a = MeshRenderable(box).render(posed, 0.0, RenderContext())
    b = MeshRenderable(moved).render(posed.replace(T_camera_world=np.eye(4)), 0.0, RenderContext())
    assert a.alpha.mean() > 0.1, "test image is nearly empty"
    assert_close(a.alpha, b.alpha)
    assert_close(a.rgb, b.rgb, atol=1e-5)


def test_headlight_and_directional_lambert(cpu_arch):
    m = MeshRenderable(quad(5.0, color=(0.6, 0.4, 0.2)))
    cam = front_camera()
    c = m.render(cam, 0.0, RenderContext(ambient=0.25)).rgb
    ray = torch.tensor([0.5 / 30, 0.5 / 30, 1.0])  # pixel (W/2, H/2): its centre is 0.5 px off the axis
    cos = float(ray[2] / ray.norm())
    assert_close(c[H // 2, W // 2], torch.tensor([0.6, 0.4, 0.2]) * (0.25 + 0.75 * cos), rtol=1e-5)
    tilted = Light(direction=np.array([0.0, np.sin(np.pi / 3), np.cos(np.pi / 3)]), color=(1.0, 1.0, 1.0))
    d = m.render(cam, 0.0, RenderContext(lights=(tilted,), ambient=0.0)).rgb
    assert_close(d[H // 2, W // 2], torch.tensor([0.6, 0.4, 0.2]) * 0.5, rtol=1e-5)
    behind = Light(direction=np.array([0.0, 0.0, -1.0]))  # lights the back, which faces away
    assert d.sum() > 0 and m.render(cam, 0.0, RenderContext(lights=(behind,), ambient=0.0)).rgb.sum() == 0


def test_texture_orientation_top_of_image_is_v_one(cpu_arch):
    tex = np.zeros((8, 8, 3), np.float32)
    tex[:4, :, 0] = 1.0  # top rows red
    tex[4:, :, 2] = 1.0  # bottom rows blue
    rgb = MeshRenderable(quad(5.0, texture=tex)).render(front_camera(), 0.0, RenderContext(ambient=1.0)).rgb
    assert rgb[2, W // 2, 0] > 0.9 and rgb[2, W // 2, 2] < 0.1, rgb[2, W // 2]
    assert rgb[H - 3, W // 2, 2] > 0.9 and rgb[H - 3, W // 2, 0] < 0.1, rgb[H - 3, W // 2]


def test_node_transform_equals_transformed_vertices(cpu_arch):
    from ngfx.scenes.scene_file import scene_from_dict

    mesh = {"name": "q", "type": "mesh", "primitive": {"shape": "box", "size": [1.0, 1.0, 1.0]},
            "transform": {"translation": [0.3, -0.2, 4.0], "rotation_wxyz": [0.9238795, 0.3826834, 0, 0],
                          "scale": [1.5, 1.0, 0.5]}}
    scene = scene_from_dict({"nodes": [mesh]}, base_dir=".")
    scene.load_payloads()
    out = SceneRenderer(scene).render(front_camera(), 0.0)
    _path, node, T = scene.drawables(0.0)[0]
    moved = node.payload.vertices @ T[:3, :3].T + T[:3, 3]
    flat = TriMesh(vertices=moved, faces=node.payload.faces, material=node.payload.material)
    ref = MeshRenderable(flat).render(front_camera(), 0.0, RenderContext())
    assert out.alpha.mean() > 0.05
    assert_close(out.alpha, ref.alpha)
    assert_close(out.depth[ref.alpha > 0], ref.depth[ref.alpha > 0], rtol=1e-5, atol=1e-5)


def test_demo_scene_renders_something_at_every_time(cpu_arch):
    from ngfx.render.headless import plan_frames
    from ngfx.render.sources import load_source

    scene = load_source("demo")
    plan = plan_frames(scene, frames=3, width=48, height=32)
    renderer = SceneRenderer(scene)
    frames = [renderer.render(c, t) for c, t in zip(plan.cameras, plan.times)]
    for f in frames:
        assert f.alpha.mean() > 0.15, "demo frame is mostly background"
        assert f.rgb.std() > 0.05
    assert not torch.equal(frames[0].rgb, frames[1].rgb), "the turntable does not move"
    assert plan.times == pytest.approx([0.0, 4.0 / 3, 8.0 / 3])
