"""Gaussians in the render core: the Taichi pipeline against the torch reference end to end, the `gaussians`
node type, PLY files as scene sources, 4D time, and depth compositing with meshes."""

import numpy as np
import pytest
import torch

from ngfx.render.core import SceneRenderer
from ngfx.render.paths import orbit
from ngfx.render.sources import load_source
from ngfx.scenes.camera import Camera
from ngfx.splatting.ply import save_gaussians
from ngfx.splatting.render import render_gaussians
from ngfx.splatting.synthetic import orbiting_gaussians, shell_gaussians
from tests.helpers import assert_close

W, H = 48, 40


@pytest.fixture(autouse=True)
def _cpu(cpu_arch):
    """CPU backend throughout."""


def front_camera(distance=2.0, **kw) -> Camera:
    return orbit((0, 0, 0), distance, frames=1, width=W, height=H, elevation_deg=15.0, **kw)[0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pipeline_matches_reference_forward_and_backward(dtype):
    model = shell_gaussians(120, sh_degree=2, dtype=dtype)
    model.requires_grad_()
    cam = front_camera()
    out = render_gaussians(model, cam)
    ref = render_gaussians(model, cam, ops="reference")
    assert out.alpha.max() > 0.5 and out.n_intersections > 0
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-10)
    for name in ("rgb", "alpha", "depth"):
        assert_close(getattr(out, name), getattr(ref, name), msg=name, **tol)
    g = torch.Generator().manual_seed(0)
    cot = [torch.randn(x.shape, generator=g, dtype=dtype) for x in (out.rgb, out.alpha, out.depth)]
    params = list(model.parameter_dict().values())
    loss = lambda r: sum((x * c).sum() for x, c in zip((r.rgb, r.alpha, r.depth), cot))  # noqa: E731
    grads = torch.autograd.grad(loss(out), params, allow_unused=True)
    expect = torch.autograd.grad(loss(ref), params, allow_unused=True)
    gtol = dict(rtol=2e-3, atol=2e-4) if dtype == torch.float32 else dict(rtol=1e-7, atol=1e-8)
    for name, a, b in zip(model.parameter_dict(), grads, expect):
        if b is None:
            continue
        assert a is not None and float(b.abs().max()) > 0, name
        assert_close(a, b, msg=f"grad {name}", **gtol)


def test_4d_pipeline_matches_reference_and_moves_with_time():
    model = orbiting_gaussians(150, dtype=torch.float64)
    cam = front_camera()
    frames = []
    for t in (0.3, 1.1):
        out = render_gaussians(model, cam, time=t)
        ref = render_gaussians(model, cam, time=t, ops="reference")
        assert_close(out.rgb, ref.rgb, rtol=1e-9, atol=1e-10, msg=f"t={t}")
        assert out.alpha.max() > 0.3
        frames.append(out.rgb)
    assert (frames[0] - frames[1]).abs().max() > 0.2  # different splats are alive at the two times


def test_ply_file_is_a_scene_source_and_renders(tmp_path):
    path = tmp_path / "shell.ply"
    save_gaussians(path, shell_gaussians(200))
    scene = load_source(str(path))
    cam = front_camera()
    out = SceneRenderer(scene).render(cam, 0.0, background=(0.0, 0.0, 0.0))
    direct = render_gaussians(shell_gaussians(200), cam)
    assert out.alpha.max() > 0.5
    assert_close(out.rgb, direct.rgb, rtol=1e-5, atol=1e-5, msg="scene vs direct")
    lo, hi = scene.bounds(0.0)
    assert np.all(lo < -0.3) and np.all(hi > 0.3)


def test_4d_ply_scene_has_its_duration(tmp_path):
    path = tmp_path / "ring4d.ply"
    save_gaussians(path, orbiting_gaussians(100, duration=2.0, rotation="rotor"))
    scene = load_source(str(path))
    assert scene.duration_s == pytest.approx(2.0)
    renderer = SceneRenderer(scene)
    a = renderer.render(front_camera(), 0.2).rgb
    b = renderer.render(front_camera(), 1.2).rgb
    assert (a - b).abs().max() > 0.2


def test_gaussians_and_mesh_composite_by_depth():
    """A splat shell around a small opaque cube: the shell's front hides the cube, a cube in front of the
    shell hides the shell (per-pixel depth order, in one frame)."""
    from ngfx.scenes.graph import Scene
    from ngfx.scenes.nodes import Node
    from ngfx.scenes.primitives import make_primitive
    from ngfx.scenes.transforms import Transform

    def scene_with_cube_at(z):
        shell = Node("shell", "gaussians", payload=shell_gaussians(300, radius=0.5))
        cube = Node("cube", "mesh", payload=make_primitive({"shape": "box", "size": [0.3, 0.3, 0.3]}),
                    transform=Transform(translation=(0.0, 0.0, z)))
        return Scene([shell, cube], background=(0, 0, 0))

    cam = Camera.look_at(eye=(0, 0, 2.0), target=(0, 0, 0), width=W, height=H, fov_y_deg=40)
    centre = (H // 2, W // 2)
    shell_only = render_gaussians(shell_gaussians(300, radius=0.5), cam).rgb[centre]
    inside = SceneRenderer(scene_with_cube_at(0.0)).render(cam, 0.0)
    outside = SceneRenderer(scene_with_cube_at(1.0)).render(cam, 0.0)  # between the camera and the shell
    assert_close(inside.rgb[centre], shell_only, atol=0.02, msg="shell in front of the cube")
    assert inside.depth[centre] == pytest.approx(1.5, abs=0.1)
    assert outside.depth[centre] == pytest.approx(0.85, abs=0.05)
    assert (outside.rgb[centre] - shell_only).abs().max() > 0.05


def test_4d_with_temporal_sh_matches_reference():
    """sh_degree_t > 0 takes the separate-op path (slice+project, then spherindrical SH)."""
    import dataclasses

    base = orbiting_gaussians(120, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    model = dataclasses.replace(base, sh_rest=0.3 * torch.randn(120, 1, 3, generator=g, dtype=torch.float64),
                                sh_degree_t=1)
    cam = front_camera()
    out = render_gaussians(model, cam, time=0.6)
    ref = render_gaussians(model, cam, time=0.6, ops="reference")
    assert out.alpha.max() > 0.3
    assert_close(out.rgb, ref.rgb, rtol=1e-9, atol=1e-10)
    still = render_gaussians(dataclasses.replace(model, sh_rest=torch.zeros_like(model.sh_rest)), cam, time=0.6)
    assert (still.rgb - out.rgb).abs().max() > 0.01  # the temporal band changes colours


def test_scaled_node_equals_scaled_model():
    """A node scale acts on the Gaussians like scaling their means and sizes (view-dependent SH included)."""
    import dataclasses
    import math

    from ngfx.scenes.graph import Scene
    from ngfx.scenes.nodes import Node
    from ngfx.scenes.transforms import Transform

    model = shell_gaussians(200, radius=0.5, sh_degree=3)
    model = dataclasses.replace(model, sh_rest=model.sh_rest * 6)  # strong view dependence
    node = Node("shell", "gaussians", payload=model, transform=Transform(scale=(2.0, 2.0, 2.0)))
    cam = front_camera(distance=4.0)
    via_node = SceneRenderer(Scene([node], background=(0, 0, 0))).render(cam, 0.0)
    scaled = dataclasses.replace(model, means=model.means * 2, log_scales=model.log_scales + math.log(2.0))
    direct = render_gaussians(scaled, cam)
    assert direct.alpha.max() > 0.5
    assert_close(via_node.rgb, direct.rgb, atol=2e-4, rtol=1e-3)
