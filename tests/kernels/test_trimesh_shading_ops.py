"""interpolate / interpolate_corners / sample_texture: forward against explicit loops, random-cotangent
backward against hand-derived gradients, float64 gradcheck."""

import pytest
import torch

from ngfx.kernels.trimesh import interpolate, interpolate_corners, sample_texture
from tests.helpers import assert_close


def tiny_raster(seed: int, h=5, w=4, n_faces=3):
    g = torch.Generator().manual_seed(seed)
    face_ids = torch.randint(-1, n_faces, (h, w), generator=g, dtype=torch.int32)
    face_ids[0, 0], face_ids[0, 1] = -1, 0  # both branches present whatever the seed
    bary = torch.rand(h, w, 3, generator=g, dtype=torch.float64)
    bary = bary / bary.sum(-1, keepdim=True)
    faces = torch.randint(0, 6, (n_faces, 3), generator=g, dtype=torch.int32)
    return face_ids, bary, faces, g


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_interpolate_forward_and_backward(seed):
    face_ids, bary, faces, g = tiny_raster(seed)
    attr = torch.randn(6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    out = interpolate(attr, face_ids, bary, faces)
    expect = torch.zeros_like(out)
    for j in range(face_ids.shape[0]):
        for i in range(face_ids.shape[1]):
            f = int(face_ids[j, i])
            if f >= 0:
                expect[j, i] = sum(bary[j, i, k] * attr[faces[f, k]] for k in range(3))
    assert_close(out, expect, msg=f"seed {seed}")
    cot = torch.randn(out.shape, generator=g, dtype=torch.float64)
    (grad,) = torch.autograd.grad((out * cot).sum(), attr)
    expect_grad = torch.zeros_like(attr)
    for j, i in (face_ids >= 0).nonzero().tolist():
        for k in range(3):
            expect_grad[faces[face_ids[j, i], k]] += bary[j, i, k] * cot[j, i]
    assert_close(grad, expect_grad, msg=f"seed {seed} grad")


def test_interpolate_gradcheck_attr_and_bary():
    face_ids, bary, faces, g = tiny_raster(3, 3, 3, 2)
    corners = torch.randn(2, 3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    bary = bary.requires_grad_()
    assert torch.autograd.gradcheck(lambda c, b: interpolate_corners(c, face_ids, b), (corners, bary))


def test_sample_texture_texel_centres_and_wrap():
    tex = torch.arange(12, dtype=torch.float64).reshape(3, 4, 1)  # rows top to bottom
    for y in range(3):
        for x in range(4):
            uv = torch.tensor([(x + 0.5) / 4, 1 - (y + 0.5) / 3], dtype=torch.float64)
            assert float(sample_texture(tex, uv)) == pytest.approx(float(tex[y, x, 0]))
    # Half way between the last and the first column wraps around.
    mid = sample_texture(tex, torch.tensor([0.0, 1 - 0.5 / 3], dtype=torch.float64))
    assert float(mid) == pytest.approx(0.5 * (tex[0, 0, 0] + tex[0, 3, 0]).item())


def test_sample_texture_backward_and_gradcheck():
    g = torch.Generator().manual_seed(4)
    tex = torch.rand(4, 5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    uv = (torch.rand(6, 2, generator=g, dtype=torch.float64) * 1.6 - 0.3).requires_grad_()
    assert torch.autograd.gradcheck(sample_texture, (tex, uv))
    out = sample_texture(tex, uv)
    cot = torch.randn(out.shape, generator=g, dtype=torch.float64)
    (grad_tex,) = torch.autograd.grad((out * cot).sum(), tex)
    # Each output spreads its cotangent over four texels with bilinear weights that sum to one.
    assert_close(grad_tex.sum((0, 1)), cot.sum(0), msg="bilinear weights sum to one")
    assert (grad_tex != 0).sum() >= 4
