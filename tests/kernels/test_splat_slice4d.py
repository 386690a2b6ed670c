"""4D Gaussian slicing (Taichi) against its torch reference, and the identities of REFERENCE 3.1-3.3."""

import math

import pytest
import torch

from ngfx.kernels import runtime
from ngfx.kernels.splat.slice4d import reference as ref
from ngfx.kernels.splat.slice4d import slice_gaussians_4d as _slice
from tests.helpers import assert_close

SEEDS = [0, 1, 2]
ROTATIONS = ["dualquat", "rotor"]
FIELDS = ("means", "covars", "opacities", "velocities")  # the differentiable outputs
TIME = 0.3


def slice_4d(*args, **kwargs):
    """The kernel on the backend's device, results back on the CPU."""
    dev = runtime.device()
    out = _slice(*(a.to(dev) if torch.is_tensor(a) else a for a in args), **kwargs)
    return type(out)(**{k: getattr(out, k).cpu() for k in (*FIELDS, "visible")})


def quat_matrix(quats):
    """3D rotation of wxyz quaternions, rows as REFERENCE 2.1."""
    w, x, y, z = torch.nn.functional.normalize(quats, dim=-1).unbind(-1)
    rows = ((1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)),
            (2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)),
            (2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)))
    return torch.stack([torch.stack(r, -1) for r in rows], -2)


def rotor_eps(rotors):
    s, bxy, bxz, byz, bxw, byw, bzw, p = rotors.unbind(-1)
    return p * s - bxy * bzw + bxz * byw - bxw * byz


def random_gaussians(seed: int, n: int, rotation: str, dtype=torch.float64):
    """Gaussians around t = TIME, some culled; a quarter have 3D-only rotations (rotor: the |eps| = 0 branch)."""
    g = torch.Generator().manual_seed(seed)
    means4 = torch.randn(n, 4, generator=g, dtype=torch.float64)
    log_scales4 = torch.randn(n, 4, generator=g, dtype=torch.float64) * 0.5 - 1.0
    rotations = torch.randn(n, 8, generator=g, dtype=torch.float64)
    to_8 = ref.quat_to_rotor if rotation == "rotor" else ref.quat_to_dualquat
    rotations[: n // 4] = to_8(rotations[: n // 4, :4])
    opacities = torch.rand(n, generator=g, dtype=torch.float64) * 0.9 + 0.05
    return [x.to(dtype) for x in (means4, log_scales4, rotations, opacities)]


def grads_of(fn, inputs, cotangents):
    """d(sum_k <out_k, g_k>)/d inputs over the differentiable outputs, for random cotangents g_k."""
    inputs = [x.detach().clone().requires_grad_(True) for x in inputs]
    out = fn(*inputs, TIME)
    loss = sum((getattr(out, k) * g).sum() for k, g in zip(FIELDS, cotangents))
    return torch.autograd.grad(loss, inputs)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rotation", ROTATIONS)
def test_forward_matches_reference(arch, seed, rotation):
    dtypes = [torch.float32] if arch == "vulkan" else [torch.float32, torch.float64]
    for dtype in dtypes:
        msg = f"{arch} seed {seed} {rotation} {dtype}"
        inputs = random_gaussians(seed, 64, rotation, dtype)
        out = slice_4d(*inputs, TIME, rotation=rotation)
        expect = ref.slice_gaussians_4d(*inputs, TIME, rotation=rotation)
        shown = expect.visible.float().mean().item()
        assert 0.2 < shown < 0.9, f"{msg}: {shown:.2f} of the Gaussians visible: the test needs both cases"
        # float32 may flip rows whose p(t) sits within rounding of the threshold; none do here
        assert torch.equal(out.visible, expect.visible), msg
        tol = 1e-10 if dtype == torch.float64 else 2e-5
        for key in FIELDS:
            assert_close(getattr(out, key), getattr(expect, key), rtol=tol, atol=tol, msg=f"{msg} {key}")


@pytest.mark.parametrize("seed", SEEDS[:2])
@pytest.mark.parametrize("rotation", ROTATIONS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_backward_matches_reference(cpu_arch, seed, rotation, dtype):
    """Random cotangents on all four outputs, rows culled and not, both rotor branches."""
    inputs = random_gaussians(seed, 32, rotation, dtype)
    expect = ref.slice_gaussians_4d(*inputs, TIME, rotation=rotation)
    g = torch.Generator().manual_seed(100 + seed)
    cotangents = [torch.randn(getattr(expect, k).shape, generator=g, dtype=dtype) for k in FIELDS]
    got = grads_of(lambda *a: _slice(*a, rotation=rotation), inputs, cotangents)
    want = grads_of(lambda *a: ref.slice_gaussians_4d(*a, rotation=rotation), inputs, cotangents)
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    for name, a, b in zip(("means4", "log_scales4", "rotations", "opacities"), got, want):
        assert b.abs().max() > 0.1, f"seed {seed}: grad {name} is degenerate"
        assert_close(a, b, rtol=tol, atol=tol, msg=f"seed {seed} {rotation} {dtype} grad {name}")


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_gradcheck(cpu_arch, rotation):
    means4, log_scales4, rotations, opacities = (x[2:] for x in random_gaussians(3, 10, rotation))
    if rotation == "rotor":  # 3D-only rows (eps = 0) are dropped above: test_gradcheck_rotor_eps_branch has them
        assert (rotor_eps(rotations).abs() > 1e-4).all(), "a step of 1e-6 must not cross |eps| = 1e-7"
    weight = ref.slice_gaussians_4d(means4, log_scales4, rotations, torch.ones(8, dtype=torch.float64), TIME,
                                    rotation=rotation, min_temporal_weight=0.0).opacities
    assert ((weight - 0.05).abs() > 1e-3).all(), "a row sits on the cull threshold: finite differences fail"
    assert (weight < 0.05).any() and (weight > 0.05).any(), weight
    inputs = [x.requires_grad_(True) for x in (means4, log_scales4, rotations, opacities)]
    fn = lambda *a: tuple(getattr(_slice(*a, TIME, rotation=rotation), k) for k in FIELDS)
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_gradcheck_rotor_eps_branch(cpu_arch):
    """Rotors with eps = 0, 0 < |eps| < 1e-7 (no grade-4 fix) and |eps| > 1e-7 (fixed); steps of 1e-9 keep
    every row inside its branch, where the derivative is that branch's."""
    g = torch.Generator().manual_seed(7)
    rotations = ref.quat_to_rotor(torch.randn(6, 4, generator=g, dtype=torch.float64))
    rotations[2:4, 4:] = 1e-8 * torch.randn(2, 4, generator=g, dtype=torch.float64)
    rotations[4:, 4:] = 1e-3 * torch.randn(2, 4, generator=g, dtype=torch.float64)
    eps = rotor_eps(rotations).abs()
    assert (eps[:2] == 0).all() and (eps[2:4] < 5e-8).all() and (eps[2:4] > 0).all() and (eps[4:] > 1e-6).all()
    fixed = ref.normalize_rotor(rotations) - rotations / (rotations.norm(dim=-1, keepdim=True) + 1e-7)
    assert (fixed[:4].abs().max() == 0) and (fixed[4:].abs().max() > 1e-7), "the branch must change the rotor"
    means4 = torch.randn(6, 4, generator=g, dtype=torch.float64) * 0.2 + TIME
    log_scales4 = torch.randn(6, 4, generator=g, dtype=torch.float64) * 0.3 - 0.5
    inputs = [x.requires_grad_(True) for x in (means4, log_scales4, rotations, torch.rand(6, dtype=torch.float64))]
    fn = lambda *a: tuple(getattr(_slice(*a, TIME, rotation="rotor"), k) for k in FIELDS)
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-9, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_rotations_orthogonal_det_one(rotation):
    rot = ref.rotation_matrix_4d(torch.randn(200, 8, dtype=torch.float64) * 2.0, rotation)
    assert_close(rot @ rot.transpose(-1, -2), torch.eye(4, dtype=torch.float64).expand(200, 4, 4), atol=1e-6,
                 msg=rotation)
    assert_close(torch.linalg.det(rot), torch.ones(200, dtype=torch.float64), atol=1e-6, msg=rotation)


def test_rotor_without_grade4_fix_is_not_orthogonal():
    """The fix matters: a merely rescaled rotor with eps != 0 gives a non-orthogonal table."""
    rotors = torch.randn(50, 8, dtype=torch.float64)
    unit = rotors / rotors.norm(dim=-1, keepdim=True)
    plain = ref._rotor_table(unit)
    error = (plain @ plain.transpose(-1, -2) - torch.eye(4, dtype=torch.float64)).abs().amax((-1, -2))
    mixed = rotor_eps(unit).abs() > 0.05
    assert mixed.sum() > 25 and (error[mixed] > 1e-3).all(), error[mixed].min()
    fixed = ref.normalize_rotor(rotors)
    assert_close(rotor_eps(fixed), torch.zeros(50, dtype=torch.float64), atol=1e-12, msg="grade 4 left")
    assert_close(fixed.norm(dim=-1), torch.ones(50, dtype=torch.float64), atol=1e-6, msg="unit norm")


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_quat_conversions_give_block_diagonal(rotation):
    quats = torch.randn(100, 4, dtype=torch.float64)
    to_8 = ref.quat_to_rotor if rotation == "rotor" else ref.quat_to_dualquat
    expect = torch.zeros(100, 4, 4, dtype=torch.float64)
    expect[:, :3, :3], expect[:, 3, 3] = quat_matrix(quats), 1.0
    assert_close(ref.rotation_matrix_4d(to_8(quats), rotation), expect, atol=1e-6, msg=rotation)


def dualquat_from_matrix(rot):
    """(q_l, q_r) with L(q_l) R(q_r) = rot [N, 4, 4]: the products L(e_i) R(e_j) are an orthogonal basis of
    4x4 matrices (squared norm 4), so <rot, L(e_i) R(e_j)> / 4 = a_i b_j, a rank-one matrix a b^T."""
    eye = torch.eye(4, dtype=rot.dtype)
    basis = ref.rotation_matrix_4d(torch.cat([eye[:, None].expand(4, 4, 4), eye[None].expand(4, 4, 4)], -1)
                                   .reshape(16, 8), "dualquat").reshape(4, 4, 4, 4)
    outer = torch.einsum("nkl,ijkl->nij", rot, basis) / 4.0
    b = outer[torch.arange(rot.shape[0]), outer.norm(dim=-1).argmax(-1)]
    b = b / b.norm(dim=-1, keepdim=True)
    return torch.cat([outer @ b[:, :, None], b[:, :, None]], 1)[..., 0]


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_parameterizations_agree(cpu_arch, seed):
    """A rotor and the dualquat of the same 4D rotation slice identically; likewise both forms of a 3D quat."""
    means4, log_scales4, rotors, opacities = random_gaussians(seed, 32, "rotor")
    quats = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    rotors[:8] = ref.quat_to_rotor(quats)
    dualquats = dualquat_from_matrix(ref.rotation_matrix_4d(rotors, "rotor"))
    dualquats[:8] = ref.quat_to_dualquat(quats)
    assert_close(ref.rotation_matrix_4d(dualquats, "dualquat"), ref.rotation_matrix_4d(rotors, "rotor"), atol=1e-6,
                 msg=f"seed {seed} matrices")
    a = slice_4d(means4, log_scales4, rotors, opacities, TIME, rotation="rotor")
    b = slice_4d(means4, log_scales4, dualquats, opacities, TIME, rotation="dualquat")
    assert a.velocities[8:].abs().max() > 0.1, "time-mixing rotations must give velocities"
    assert torch.equal(a.visible, b.visible)
    for key in FIELDS:
        assert_close(getattr(a, key), getattr(b, key), rtol=1e-5, atol=1e-6, msg=f"seed {seed} {key}")


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_slice_at_mean_time_of_a_3d_rotation(cpu_arch, rotation):
    """t = mu_t: means mu_xyz, opacity unchanged; a 3D-only rotation gives R S S^T R^T and no velocity."""
    means4, log_scales4, _, opacities = random_gaussians(4, 16, rotation)
    quats = torch.randn(16, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    to_8 = ref.quat_to_rotor if rotation == "rotor" else ref.quat_to_dualquat
    means4[:, 3] = TIME
    out = slice_4d(means4, log_scales4, to_8(quats), opacities, TIME, rotation=rotation)
    m = quat_matrix(quats) * torch.exp(log_scales4[:, None, :3])
    cov3 = m @ m.transpose(-1, -2)
    assert_close(out.covars, cov3[:, list(ref.COV6_ROWS), list(ref.COV6_COLS)], atol=1e-6, rtol=1e-6, msg=rotation)
    assert_close(out.means, means4[:, :3], atol=1e-12, msg=rotation)
    assert_close(out.opacities, opacities, atol=1e-12, msg=rotation)
    assert_close(out.velocities, torch.zeros(16, 3, dtype=torch.float64), atol=1e-7, msg=rotation)
    mixed = slice_4d(means4, log_scales4, torch.randn(16, 8, dtype=torch.float64), opacities, TIME, rotation=rotation)
    assert_close(mixed.means, means4[:, :3], atol=1e-12, msg=rotation)
    assert (mixed.covars - out.covars).abs().max() > 1e-2, "a time-mixing rotation must change the slice"


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_density_factorizes(cpu_arch, rotation):
    """N4([x, t]) = p(t) N3(x | t) / sqrt(2 pi w4) for normalized Gaussians, at random points and times."""
    means4, log_scales4, rotations, _ = random_gaussians(5, 8, rotation)
    m = ref.rotation_matrix_4d(rotations, rotation) * torch.exp(log_scales4)[:, None, :]
    sigma4 = m @ m.transpose(-1, -2)
    g = torch.Generator().manual_seed(5)
    for t in (TIME, -0.7, 1.4):
        out = slice_4d(means4, log_scales4, rotations, torch.ones(8, dtype=torch.float64), t, rotation=rotation,
                       min_temporal_weight=0.0)
        cov3 = torch.zeros(8, 3, 3, dtype=torch.float64)
        cov3[:, list(ref.COV6_ROWS), list(ref.COV6_COLS)] = out.covars
        cov3[:, list(ref.COV6_COLS), list(ref.COV6_ROWS)] = out.covars
        x = means4[:, None, :3] + torch.randn(8, 5, 3, generator=g, dtype=torch.float64)
        points4 = torch.cat([x, torch.full((8, 5, 1), t, dtype=torch.float64)], -1)
        log_n4 = torch.distributions.MultivariateNormal(means4[:, None], sigma4[:, None]).log_prob(points4)
        log_n3 = torch.distributions.MultivariateNormal(out.means[:, None], cov3[:, None]).log_prob(x)
        log_ratio = log_n4 - log_n3 - torch.log(out.opacities)[:, None]
        expect = -0.5 * torch.log(2 * math.pi * sigma4[:, 3, 3])[:, None].expand(8, 5)
        assert_close(log_ratio, expect, atol=1e-8, msg=f"{rotation} t={t}")
        assert out.opacities.min() < 0.5, "some points must be far from their Gaussian's time"


@pytest.mark.parametrize("min_weight", [0.05, math.exp(-16.0)])
@pytest.mark.parametrize("rotation", ROTATIONS)
def test_cull_threshold(cpu_arch, rotation, min_weight):
    """Identity rotation, sigma_t = 0.5: rows with p(t) just above / below min_weight, and Duan's 0.5 dt^2/w4 rule."""
    identity = torch.tensor([1.0, 0, 0, 0, 1.0, 0, 0, 0] if rotation == "dualquat" else [1.0] + [0] * 7,
                            dtype=torch.float64)
    w4 = 0.25
    p = torch.tensor([min_weight * 1.001, min_weight * 0.999, 1.0], dtype=torch.float64)
    means4 = torch.zeros(3, 4, dtype=torch.float64)
    means4[:, 3] = TIME - torch.sqrt(-2.0 * w4 * torch.log(p))
    log_scales4 = torch.full((3, 4), math.log(0.5), dtype=torch.float64)
    opacities = torch.tensor([0.5, 0.6, 0.7], dtype=torch.float64)
    out = slice_4d(means4, log_scales4, identity.expand(3, 8), opacities, TIME, rotation=rotation,
                   min_temporal_weight=min_weight)
    assert out.visible.tolist() == [True, False, True]
    tol = 1e-5 if rotation == "rotor" else 1e-12  # Duan divides by |r| + 1e-7: R4 shrinks by ~2e-7
    assert_close(out.opacities, torch.tensor([0.5 * p[0], 0.0, 0.7], dtype=torch.float64), rtol=tol, atol=0)
    shift = 0.5 * (TIME - means4[:, 3]) ** 2 / w4
    if min_weight < 1e-6:
        assert (shift[1] >= 16.0) and (shift[0] < 16.0), "exp(-16) is Duan's 0.5 dt^2 / w4 >= 16 rule"


def test_empty_input_and_bad_rotation(cpu_arch):
    zeros = [torch.zeros(0, k) for k in (4, 4, 8)] + [torch.zeros(0)]
    out = slice_4d(*zeros, TIME)
    assert out.means.shape == (0, 3) and out.covars.shape == (0, 6) and out.visible.dtype == torch.bool
    with pytest.raises(ValueError):
        _slice(*zeros, TIME, rotation="quat")
