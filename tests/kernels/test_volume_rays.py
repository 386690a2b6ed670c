"""Camera rays (`generate_rays`) against their torch reference and against the OpenCV / +0.5 convention."""

import numpy as np
import pytest
import torch

from ngfx.kernels import runtime
from ngfx.kernels.volume import distance_to_depth, generate_rays
from ngfx.kernels.volume.rays import reference as ref
from tests.helpers import assert_close

SEEDS = [0, 1, 2, 3]


def camera(seed: int, *, scale: float = 1.0):
    """A random camera-to-world pose (rotation from a QR, det +1, times `scale`) and intrinsics with an
    off-centre principal point, for a 13 x 9 image."""
    g = np.random.default_rng(seed)
    q, r = np.linalg.qr(g.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = scale * q, g.normal(size=3) * 2
    fx, fy = g.uniform(8, 20, size=2)
    cx, cy = 13 / 2 + g.uniform(-2, 2), 9 / 2 + g.uniform(-2, 2)
    return T, (fx, fy, cx, cy)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_grid_matches_reference(cpu_arch, seed, dtype):
    T, k = camera(seed)
    o, d = generate_rays(T, k, 13, 9, dtype=dtype)
    o_ref, d_ref = ref.generate_rays(T, k, 13, 9, dtype=torch.float64)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-13}
    assert o.shape == d.shape == (13 * 9, 3) and o.dtype == d.dtype == dtype
    assert_close(d, d_ref.to(dtype), **tol, msg=f"seed {seed}")
    assert_close(o, o_ref.to(dtype), **tol, msg=f"seed {seed}")
    assert_close(torch.linalg.vector_norm(d.double(), dim=-1), torch.ones(13 * 9, dtype=torch.float64), **tol)
    assert float(d.std(0).min()) > 0.05, f"seed {seed}: the directions fan out"
    assert_close(o, torch.as_tensor(T[:3, 3], dtype=dtype).expand(13 * 9, 3), **tol, msg="camera centre")


@pytest.mark.parametrize("seed", SEEDS)
def test_given_pixels_match_reference(cpu_arch, seed):
    T, k = camera(seed)
    g = torch.Generator().manual_seed(seed)
    pixels = torch.rand((57, 2), generator=g, dtype=torch.float64) * torch.tensor([13.0, 9.0]) * 1.4 - 2
    o, d = generate_rays(T, k, 13, 9, pixels=pixels.float())
    o_ref, d_ref = ref.generate_rays(T, k, 13, 9, pixels=pixels.float().double(), dtype=torch.float64)
    assert o.shape == (57, 3)
    assert_close(d, d_ref.float(), rtol=1e-5, atol=1e-6, msg=f"seed {seed}")
    assert_close(o, o_ref.float(), rtol=1e-5, atol=1e-6, msg=f"seed {seed}")


@pytest.mark.parametrize("seed", SEEDS)
def test_rays_reproject_to_their_pixel_centres(cpu_arch, seed):
    """Independent of the reference: o + t d mapped back through T_camera_world and K lands on (i + 0.5,
    j + 0.5) of ray j * W + i, in front of the camera (OpenCV: +z forward)."""
    T, (fx, fy, cx, cy) = camera(seed)
    o, d = generate_rays(T, (fx, fy, cx, cy), 13, 9, dtype=torch.float64)
    T_camera_world = torch.as_tensor(np.linalg.inv(T))
    p = (o + 3.0 * d) @ T_camera_world[:3, :3].T + T_camera_world[:3, 3]
    assert float(p[:, 2].min()) > 0, "rays point forward (+z)"
    uv = torch.stack([fx * p[:, 0] / p[:, 2] + cx, fy * p[:, 1] / p[:, 2] + cy], dim=-1)
    assert_close(uv, ref.image_points(13, 9, dtype=torch.float64), rtol=0, atol=1e-9, msg=f"seed {seed}")


@pytest.mark.parametrize("seed", SEEDS)
def test_pixel_centre_convention_optical_axis(cpu_arch, seed):
    """REFERENCE 1.2: with principal point (cx, cy) = (i + 0.5, j + 0.5), the ray of pixel (i, j) = (cx - 0.5,
    cy - 0.5) is the optical axis (T_world_camera's third column); its right / lower neighbours tilt
    towards camera +x / +y (x right, y down)."""
    T, (fx, fy, _, _) = camera(seed)
    i, j = 4 + seed % 3, 2 + seed % 2
    cx, cy = i + 0.5, j + 0.5
    _, d = generate_rays(T, (fx, fy, cx, cy), 13, 9, dtype=torch.float64)
    axis, right, down = (torch.as_tensor(T[:3, c]) for c in (2, 0, 1))
    assert_close(d[j * 13 + i], axis, rtol=0, atol=1e-12, msg=f"seed {seed}")
    assert float(d[j * 13 + i + 1] @ right) > 0 and abs(float(d[j * 13 + i + 1] @ down)) < 1e-12
    assert float(d[(j + 1) * 13 + i] @ down) > 0 and abs(float(d[(j + 1) * 13 + i] @ right)) < 1e-12
    _, d_pt = generate_rays(T, (fx, fy, cx, cy), 13, 9, pixels=torch.tensor([[cx, cy]], dtype=torch.float64),
                            dtype=torch.float64)
    assert_close(d_pt[0], axis, rtol=0, atol=1e-12, msg="a continuous point at the principal point")


@pytest.mark.parametrize("scale", [1.0, 2.5])
def test_distance_to_depth_is_camera_z(cpu_arch, scale):
    """The camera z of o + t d equals distance_to_depth(t, d, T), also for a pose that carries a scale."""
    T, k = camera(7, scale=scale)
    o, d = generate_rays(T, k, 13, 9, dtype=torch.float64)
    t = torch.rand(13 * 9, generator=torch.Generator().manual_seed(7), dtype=torch.float64) * 5 + 0.1
    T_camera_world = torch.as_tensor(np.linalg.inv(T))
    z = ((o + t[:, None] * d) @ T_camera_world[:3, :3].T + T_camera_world[:3, 3])[:, 2]
    assert_close(distance_to_depth(t, d, T), z, rtol=1e-12, atol=1e-12, msg=f"scale {scale}")
    if scale == 1.0:  # rigid: depth = t dir_cam.z with dir_cam.z = 1 / |((u - cx) / fx, (v - cy) / fy, 1)|
        fx, fy, cx, cy = k
        uv = ref.image_points(13, 9, dtype=torch.float64)
        dir_z = 1 / torch.sqrt(((uv[:, 0] - cx) / fx) ** 2 + ((uv[:, 1] - cy) / fy) ** 2 + 1)
        assert_close(distance_to_depth(t, d, T), t * dir_z, rtol=1e-12, atol=1e-12)
        assert float(dir_z.min()) < 0.95  # off-axis rays: depth really differs from distance


def test_inputs_and_errors(cpu_arch):
    T, (fx, fy, cx, cy) = camera(9)
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
    _, d_k = generate_rays(torch.as_tensor(T), K, 13, 9)  # a tensor pose and a 3x3 K
    _, d_ref = ref.generate_rays(T, (fx, fy, cx, cy), 13, 9)
    assert_close(d_k, d_ref, rtol=1e-5, atol=1e-6)
    o, d = generate_rays(T, K, 13, 9, pixels=torch.zeros((0, 2)))
    assert o.shape == d.shape == (0, 3)
    with pytest.raises(ValueError, match="intrinsics"):
        generate_rays(T, (1.0, 2.0, 3.0), 13, 9)
    with pytest.raises(ValueError, match="focal"):
        generate_rays(T, (-1.0, 2.0, 3.0, 4.0), 13, 9)
    with pytest.raises(ValueError, match="pixels"):
        generate_rays(T, K, 13, 9, pixels=torch.zeros((4, 3)))
    with pytest.raises(ValueError, match="width"):
        generate_rays(T, K, 0, 9)
    with pytest.raises(ValueError, match="T_world_camera"):
        generate_rays(T[:2], K, 13, 9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_on_every_backend(arch, dtype):
    """float64 too: ray generation needs only sqrt, which Vulkan has in 64 bits (lavapipe runs it)."""
    T, k = camera(11)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-13}
    o, d = generate_rays(T, k, 13, 9, dtype=dtype)
    o_ref, d_ref = ref.generate_rays(T, k, 13, 9, dtype=torch.float64)
    assert o.device == d.device == runtime.device()
    assert_close(d.cpu(), d_ref.to(dtype), **tol, msg=arch)
    assert_close(o.cpu(), o_ref.to(dtype), **tol, msg=arch)
    pixels = ref.image_points(13, 9, dtype=dtype)[::5] + 0.25
    _, d_pt = generate_rays(T, k, 13, 9, pixels=pixels.to(runtime.device()), dtype=dtype)
    _, d_pt_ref = ref.generate_rays(T, k, 13, 9, pixels=pixels.double(), dtype=torch.float64)
    assert_close(d_pt.cpu(), d_pt_ref.to(dtype), **tol, msg=arch)
