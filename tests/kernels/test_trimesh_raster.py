"""Triangle rasterizer (Taichi) against its torch reference, on every backend in `arch`."""

import math

import pytest
import torch

from ngfx.kernels import runtime
from ngfx.kernels.trimesh import rasterize as _rasterize
from ngfx.kernels.trimesh import reference
from tests.helpers import assert_close

SEEDS = [0, 1, 2]


def rasterize(verts, faces, *args, **kwargs):
    """The kernel on the backend's device, results back on the CPU for comparison."""
    dev = runtime.device()
    out = _rasterize(verts.to(dev), faces.to(dev), *args, **kwargs)
    return type(out)(*(t.cpu() for t in (out.face_ids, out.bary, out.depth)))
K = (40.0, 37.0, 24.3, 17.9)  # off-centre principal point, unequal focal lengths
W, H = 48, 36


def random_soup(seed: int, n: int, dtype=torch.float64):
    """Triangles in front of, across and behind the near plane, both windings, some degenerate."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(n, 1, 3, generator=g, dtype=torch.float64) * torch.tensor([2.0, 1.6, 3.0]) - torch.tensor(
        [1.0, 0.8, -0.2])  # z in [0.2, 3.2]: some straddle near=0.5
    verts = centres + torch.randn(n, 3, 3, generator=g, dtype=torch.float64) * 0.4
    verts[: n // 10, 2] = verts[: n // 10, 1]  # degenerate: three identical vertices
    verts[n // 10: n // 5, 2] = 0.5 * (verts[n // 10: n // 5, 0] + verts[n // 10: n // 5, 1])  # collinear
    faces = torch.arange(3 * n, dtype=torch.int32).reshape(n, 3)
    return verts.reshape(-1, 3).to(dtype), faces


def compare(out, ref, *, max_flips: float, msg: str):
    """Exact face ids except a small boundary band; bary and depth close wherever the ids agree."""
    same = out.face_ids == ref.face_ids
    flips = 1.0 - same.float().mean().item()
    assert flips <= max_flips, f"{msg}: {flips:.4f} of pixels pick another face"
    hit = same & (ref.face_ids >= 0)
    tol = 1e-10 if out.depth.dtype == torch.float64 else 2e-4
    assert_close(out.bary[hit], ref.bary[hit], rtol=tol, atol=tol, msg=f"{msg} bary")
    assert_close(out.depth[hit], ref.depth[hit], rtol=tol, atol=tol, msg=f"{msg} depth")
    assert torch.isinf(out.depth[out.face_ids < 0]).all(), msg


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cull", [False, True])
def test_forward_matches_reference(arch, seed, cull):
    dtypes = [torch.float32] if arch == "vulkan" else [torch.float32, torch.float64]
    for dtype in dtypes:
        verts, faces = random_soup(seed, 120, dtype)
        args = (verts, faces, K, W, H)
        out = rasterize(*args, near=0.5, far=3.0, cull_backfaces=cull)
        ref = reference.rasterize(*args, near=0.5, far=3.0, cull_backfaces=cull)
        covered = (ref.face_ids >= 0).float().mean().item()
        assert 0.3 < covered < 1.0, f"seed {seed}: test scene covers {covered:.2f} of the image"
        compare(out, ref, max_flips=0.0 if dtype == torch.float64 else 0.002, msg=f"{arch} seed {seed} {dtype}")


def test_depth_order_and_ties(arch):
    """Closer triangle wins whatever the submission order; an exact tie goes to the smaller face id."""
    quad = torch.tensor([[-1, -1, 0], [1, -1, 0], [0, 1, 0.0]])
    far_tri, near_tri = quad + torch.tensor([0, 0, 2.0]), quad + torch.tensor([0, 0, 1.5])
    for verts, expect in (([far_tri, near_tri], 1), ([near_tri, far_tri], 0), ([far_tri, far_tri], 0)):
        v = torch.cat(verts).float()
        out = rasterize(v, torch.arange(6, dtype=torch.int32).reshape(2, 3), K, W, H)
        assert int(out.face_ids[H // 2, W // 2]) == expect


def test_pixel_centre_convention(arch):
    """A triangle around the centre of pixel (i, j) covers exactly that pixel."""
    i, j, z, r = 7, 5, 2.0, 0.2  # r in pixels: well inside the pixel
    fx, fy, cx, cy = K
    px = torch.tensor([[i + 0.5 - r, j + 0.5 - r], [i + 0.5 + r, j + 0.5 - r], [i + 0.5, j + 0.5 + r]])
    verts = torch.stack([(px[:, 0] - cx) / fx * z, (px[:, 1] - cy) / fy * z, torch.full((3,), z)], 1).float()
    out = rasterize(verts, torch.tensor([[0, 1, 2]], dtype=torch.int32), K, W, H)
    covered = (out.face_ids >= 0).nonzero().tolist()
    assert covered == [[j, i]], covered
    assert_close(out.depth[j, i], torch.tensor(z), rtol=1e-6, atol=1e-6)


def test_near_plane_crossing_has_no_wraparound(arch):
    """A ground plane running behind the camera fills exactly the rows below the horizon."""
    y, near = 1.0, 0.1  # plane y = 1 (below the camera: +y is down)
    verts = torch.tensor([[-50, y, -50], [50, y, -50], [50, y, 50], [-50, y, 50.0]]).float()
    faces = torch.tensor([[0, 1, 2], [0, 2, 3]], dtype=torch.int32)
    out = rasterize(verts, faces, K, W, H, near=near, far=1e3)
    ref = reference.rasterize(verts, faces, K, W, H, near=near, far=1e3)
    compare(out, ref, max_flips=0.002, msg=arch)
    rows = (out.face_ids >= 0).any(dim=1)
    horizon = K[3]  # rows whose centre is below cy see the plane (out to z = 50)
    expect = torch.tensor([(r + 0.5 - K[3]) / K[1] * 50 > y for r in range(H)])
    assert torch.equal(rows, expect), (rows.nonzero().flatten().tolist(), horizon)
    assert (out.depth[out.face_ids >= 0] >= near).all()


def test_empty_and_offscreen(arch):
    """Everything culled: behind the camera, beyond far, off-screen, back faces when culling."""
    tri = torch.tensor([[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0.0]])
    verts = torch.cat([tri + torch.tensor([0, 0, -1.0]), tri + torch.tensor([0, 0, 1e5]),
                       tri + torch.tensor([100, 0, 1.0])]).float()
    out = rasterize(verts, torch.arange(9, dtype=torch.int32).reshape(3, 3), K, W, H)
    assert (out.face_ids == -1).all() and torch.isinf(out.depth).all()
    back = torch.tensor([[0, 0, 1.0], [0.1, 0, 1.0], [0, 0.1, 1.0]]).float()  # clockwise seen from the camera
    faces = torch.tensor([[0, 1, 2]], dtype=torch.int32)
    assert (rasterize(back, faces, K, W, H).face_ids >= 0).any()
    assert (rasterize(back, faces, K, W, H, cull_backfaces=True).face_ids == -1).all()
    assert (rasterize(back, faces.flip(1), K, W, H, cull_backfaces=True).face_ids >= 0).any()


def test_large_triangle_spans_many_chunks(arch):
    """One triangle larger than the image: every pixel, depth of a tilted plane exact."""
    verts = torch.tensor([[-100, -100, 2.0], [100, -100, 2.0], [0, 100, 6.0]]).float()
    out = rasterize(verts, torch.tensor([[0, 1, 2]], dtype=torch.int32), K, 256, 200)
    assert (out.face_ids == 0).all()
    ref = reference.rasterize(verts.double(), torch.tensor([[0, 1, 2]], dtype=torch.int32), K, 256, 200)
    assert_close(out.depth, ref.depth.float(), rtol=1e-5, atol=1e-5)
    assert math.isclose(float(out.bary.sum(-1).mean()), 1.0, rel_tol=1e-6)
