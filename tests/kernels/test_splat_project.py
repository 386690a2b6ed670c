"""3D Gaussian projection (Taichi) against its torch reference: forward parity, random-cotangent backward
parity, float64 gradcheck, every culling branch, the Jacobian clamp and the pixel-centre convention."""

import math

import pytest
import torch

from ngfx.kernels import runtime
from ngfx.kernels.splat.project import project_gaussians, reference
from tests.float32_budget import assert_float32_within, float32_spread
from tests.helpers import assert_close

SEEDS = [0, 1, 2]
K = (30.0, 28.0, 17.3, 13.1)  # off-centre principal point, unequal focal lengths
W, H = 32, 24
NEAR, FAR = 0.2, 5.0
FIELDS = ("means2d", "conics", "depths", "opacities")
INPUTS = ("means", "log_scales", "quats", "opacities")


def camera_pose(dtype=torch.float64):
    """A rotated and translated OpenCV T_camera_world (Rodrigues on a fixed axis) and its inverse."""
    axis, angle = torch.tensor([0.3, -0.8, 0.5], dtype=torch.float64), 0.7
    k = axis / axis.norm()
    cross = torch.tensor([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]], dtype=torch.float64)
    R = torch.eye(3, dtype=torch.float64) + math.sin(angle) * cross + (1 - math.cos(angle)) * cross @ cross
    T = torch.eye(4, dtype=torch.float64)
    T[:3, :3], T[:3, 3] = R, torch.tensor([0.4, -0.2, 1.5], dtype=torch.float64)
    return T.to(dtype), torch.linalg.inv(T).to(dtype)


def to_world(p_cam):
    """Camera-frame points [N, 3] -> world, through camera_pose()."""
    _, T_world_camera = camera_pose(p_cam.dtype)
    return p_cam @ T_world_camera[:3, :3].T + T_world_camera[:3, 3]


def random_scene(seed: int, n: int, dtype):
    """Gaussians behind, before near, beyond far, far off-axis (clamped), off-image, faint, tiny and large."""
    g = torch.Generator().manual_seed(seed)
    z = torch.rand(n, generator=g, dtype=torch.float64) * 6.0 - 0.5  # [-0.5, 5.5] against near 0.2, far 5
    uv = torch.rand(n, 2, generator=g, dtype=torch.float64) * 2.6 - 1.3  # |x/z| up to 1.3: clamp at ~0.65
    means = to_world(torch.cat([uv * z.abs()[:, None], z[:, None]], 1))
    log_scales = torch.randn(n, 3, generator=g, dtype=torch.float64) * 1.2 - 2.5
    quats = torch.randn(n, 4, generator=g, dtype=torch.float64) * 2.0  # unnormalised
    opacities = torch.rand(n, generator=g, dtype=torch.float64) * 0.999 + 0.0005  # some below 1/255
    return [t.to(dtype) for t in (means, log_scales, quats, opacities)]


def branch_scene(dtype=torch.float64):
    """One Gaussian per branch (camera frame), and the expected visibility without / with antialiasing."""
    rows = [  # p_cam, log_scale, opacity, visible, visible antialiased
        ((0.1, -0.05, 2.0), (-3.0, -2.5, -2.8), 0.8, 1, 1),  # 0 on image
        ((0.0, 0.0, -2.0), (-2.0, -2.0, -2.0), 0.8, 0, 0),  # 1 behind the camera
        ((0.0, 0.0, 0.1), (-2.0, -2.0, -2.0), 0.8, 0, 0),  # 2 before the near plane
        ((0.0, 0.0, 25.0), (-2.0, -2.0, -2.0), 0.8, 0, 0),  # 3 beyond the far plane
        ((0.2, 0.1, 2.0), (-2.0, -2.0, -2.0), 0.003, 0, 0),  # 4 opacity below 1/255
        ((-0.1, 0.1, 2.0), (-7.0, -7.0, -7.0), 0.9, 1, 0),  # 5 tiny: rho * opacity < 1/255
        ((-2.49, 0.0, 2.0), (-4.0, -4.0, -4.0), 0.8, 0, 0),  # 6 box left of the image
        ((2.4, 0.3, 2.0), (0.0, -0.3, 0.2), 0.7, 1, 1),  # 7 x/z = 1.2: Jacobian clamped, box overlaps
        ((0.2, -2.0, 2.0), (0.1, 0.2, -0.2), 0.6, 1, 1),  # 8 y/z = -1: clamped on the negative side
        ((1.113, 0.0, 2.0), (-1.5, -1.5, -1.5), 0.9, 1, 1),  # 9 mean right of the image, box overlaps
        ((0.0, 0.2, 3.0), (-2.2, -2.0, -2.5), 0.02, 1, 1),  # 10 faint: extent < radius_sigmas
    ]
    g = torch.Generator().manual_seed(7)
    means = to_world(torch.tensor([r[0] for r in rows], dtype=torch.float64))
    quats = torch.randn(len(rows), 4, generator=g, dtype=torch.float64) * 3.0
    cols = [means, torch.tensor([r[1] for r in rows]), quats, torch.tensor([r[2] for r in rows])]
    visible = {aa: torch.tensor([r[4 if aa else 3] for r in rows]).bool() for aa in (False, True)}
    return [c.to(dtype) for c in cols], visible


def project(fn, inputs, *, antialiased, covars=None):
    kw = {"covars": covars, "near": NEAR, "far": FAR, "antialiased": antialiased}
    if covars is not None:
        return fn(inputs[0], None, None, inputs[3], camera_pose()[0], K, W, H, **kw)
    return fn(*inputs, camera_pose()[0], K, W, H, **kw)


def compare(out, ref, *, tol: float, msg: str):
    assert torch.equal(out.radii, ref.radii), f"{msg}: radii {(out.radii != ref.radii).nonzero().tolist()}"
    for name in FIELDS:
        a, b = getattr(out, name), getattr(ref, name)
        assert_close(a, b, rtol=tol, atol=tol * max(1.0, b.abs().max().item()), msg=f"{msg} {name}")


def fields(out):
    return [getattr(out, f) for f in FIELDS]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("antialiased", [False, True])
def test_forward_matches_reference(cpu_arch, seed, antialiased):
    msg = f"seed {seed} antialiased={antialiased}"
    inputs = random_scene(seed, 300, torch.float64)
    ref = project(reference.project_gaussians, inputs, antialiased=antialiased)
    out = project(project_gaussians, inputs, antialiased=antialiased)
    compare(out, ref, tol=1e-12, msg=f"{msg} float64")
    visible = (out.radii > 0).any(1)
    assert 0.1 < visible.float().mean() < 0.7, f"{msg}: {int(visible.sum())} of 300 visible"
    assert (out.radii[~visible] == 0).all() and (out.opacities[~visible] == 0).all(), msg
    out32 = project(project_gaussians, [x.float() for x in inputs], antialiased=antialiased)
    assert torch.equal(out32.radii, ref.radii), f"{msg} float32 radii"
    spread = float32_spread(lambda *xs: fields(project(reference.project_gaussians, xs, antialiased=antialiased)),
                            inputs, fields(ref))
    assert_float32_within(fields(out32), fields(ref), spread, FIELDS, f"{msg} float32")


@pytest.mark.parametrize("antialiased", [False, True])
def test_every_branch(cpu_arch, antialiased, monkeypatch):
    inputs, visible = branch_scene()
    out = project(project_gaussians, inputs, antialiased=antialiased)
    ref = project(reference.project_gaussians, inputs, antialiased=antialiased)
    compare(out, ref, tol=1e-12, msg=f"antialiased={antialiased}")
    assert torch.equal((out.radii > 0).any(1), visible[antialiased]), out.radii.tolist()
    for name in FIELDS:  # culled rows are all zeros
        assert (getattr(out, name)[~visible[antialiased]] == 0).all(), name
    # Radii per axis: extent = min(3, sqrt(2 ln(255 o))) sigmas of the dilated Sigma2, in whole pixels.
    det = out.conics[:, 0] * out.conics[:, 2] - out.conics[:, 1] ** 2
    sigma2 = torch.stack([out.conics[:, 2], out.conics[:, 0]], 1) / det[:, None]
    extent = torch.sqrt(2 * torch.log(255 * out.opacities)).clamp(max=3.0)
    v = visible[antialiased]
    assert torch.equal(out.radii[v], torch.ceil(extent[v, None] * sigma2[v].sqrt()).int())
    assert extent[10] < 2.0 and extent[0] == 3.0
    # The Jacobian clamp changes the footprint of rows 7 and 8 only (a reference without the clamp).
    monkeypatch.setattr(reference, "FOV_MARGIN", 1e9)
    unclamped = project(reference.project_gaussians, inputs, antialiased=antialiased)
    moved = (unclamped.conics - out.conics).abs().amax(1) > 1e-6
    assert moved.nonzero().flatten().tolist() == [7, 8]


def test_unnormalised_quats_and_covars_path(cpu_arch):
    inputs, _ = branch_scene()
    base = project(project_gaussians, inputs, antialiased=True)
    scaled = [inputs[0], inputs[1], inputs[2] * 3.7, inputs[3]]
    compare(project(project_gaussians, scaled, antialiased=True), base, tol=1e-12, msg="quat x 3.7")
    covars = reference.cov3_from_scale_quat(inputs[1], inputs[2])
    out = project(project_gaussians, inputs, antialiased=True, covars=covars)
    compare(out, base, tol=1e-12, msg="covars")
    # An indefinite covariance gives det(Sigma2) <= 0: culled; only the covariance form can express it.
    R_cw = camera_pose()[0][:3, :3]
    bad = R_cw.T @ torch.diag(torch.tensor([4.0, -4.0, 0.01], dtype=torch.float64)) @ R_cw
    covars[0] = bad[[0, 0, 0, 1, 1, 2], [0, 1, 2, 1, 2, 2]]
    out = project(project_gaussians, inputs, antialiased=False, covars=covars)
    ref = project(reference.project_gaussians, inputs, antialiased=False, covars=covars)
    compare(out, ref, tol=1e-12, msg="det <= 0")
    assert (out.radii[0] == 0).all() and (out.radii[9] > 0).all()


def test_pixel_centre_convention(cpu_arch):
    """The optical axis lands on (cx, cy); a point on the ray of pixel (i, j) lands on (i + 0.5, j + 0.5)."""
    fx, fy, cx, cy = K
    i, j, z = 5, 17, 2.5
    p_cam = torch.tensor([[0.0, 0.0, 3.0], [(i + 0.5 - cx) / fx * z, (j + 0.5 - cy) / fy * z, z]],
                         dtype=torch.float64)
    f64 = torch.float64
    quats = torch.tensor([[1.0, 0, 0, 0]] * 2, dtype=f64)
    inputs = [to_world(p_cam), torch.full((2, 3), -3.0, dtype=f64), quats, torch.full((2,), 0.9, dtype=f64)]
    out = project(project_gaussians, inputs, antialiased=False)
    assert_close(out.means2d, torch.tensor([[cx, cy], [i + 0.5, j + 0.5]], dtype=torch.float64), atol=1e-10)
    assert_close(out.depths, torch.tensor([3.0, z], dtype=torch.float64), atol=1e-12)


def grads(fn, inputs, cotangents, *, antialiased, covars=None):
    """d/d inputs of sum(out * g) over the four differentiable outputs (None cotangents skip an output)."""
    leaves = [x.detach().clone().requires_grad_() for x in inputs]
    cov = None if covars is None else covars.detach().clone().requires_grad_()
    out = project(fn, leaves, antialiased=antialiased, covars=cov)
    loss = sum((getattr(out, f) * g).sum() for f, g in zip(FIELDS, cotangents) if g is not None)
    wrt = [leaves[0], leaves[3], cov] if covars is not None else leaves
    got = torch.autograd.grad(loss, wrt, allow_unused=True)
    return [torch.zeros_like(x) if g is None else g for x, g in zip(wrt, got)]  # unused: zero gradient


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("antialiased", [False, True])
def test_backward_matches_reference(cpu_arch, seed, antialiased):
    inputs = random_scene(seed, 200, torch.float64)
    g = torch.Generator().manual_seed(100 + seed)
    cot = [torch.randn(s, generator=g, dtype=torch.float64) for s in ((200, 2), (200, 3), (200,), (200,))]
    for used in (cot, [cot[0], None, None, None]):  # all outputs; the means2d alone
        msg = f"seed {seed} antialiased={antialiased} outputs used {[c is not None for c in used]}"
        got = grads(project_gaussians, inputs, used, antialiased=antialiased)
        want = grads(reference.project_gaussians, inputs, used, antialiased=antialiased)
        for name, a, b in zip(INPUTS, got, want):
            if name == "means" or used[1] is not None:  # means2d depends on the means only
                assert b.abs().max() > 0, f"{msg} grad {name} is all zeros"
            assert_close(a, b, rtol=1e-10, atol=1e-10 * b.abs().max().item(), msg=f"{msg} grad {name}")
        inputs32, used32 = [x.float() for x in inputs], [c if c is None else c.float() for c in used]
        got32 = grads(project_gaussians, inputs32, used32, antialiased=antialiased)
        spread = float32_spread(lambda *xs: grads(reference.project_gaussians, xs[:4], xs[4:],
                                                  antialiased=antialiased), [*inputs, *used], want)
        assert_float32_within(got32, want, spread, INPUTS, f"{msg} float32 grad")


@pytest.mark.parametrize("antialiased", [False, True])
def test_gradcheck_float64(cpu_arch, antialiased):
    inputs, visible = branch_scene()
    assert visible[antialiased].sum() >= 5
    leaves = [x.clone().requires_grad_() for x in inputs]

    def fn(*xs):
        out = project(project_gaussians, xs, antialiased=antialiased)
        return tuple(getattr(out, f) for f in FIELDS)

    assert torch.autograd.gradcheck(fn, leaves)
    covars = reference.cov3_from_scale_quat(inputs[1], inputs[2]).requires_grad_()

    def fn_covars(means, covars, opacities):
        inputs = [means, None, None, opacities]
        out = project(project_gaussians, inputs, antialiased=antialiased, covars=covars)
        return tuple(getattr(out, f) for f in FIELDS)

    assert torch.autograd.gradcheck(fn_covars, (leaves[0], covars, leaves[3]))


def test_covars_backward_matches_reference(cpu_arch):
    inputs = random_scene(3, 100, torch.float64)
    covars = reference.cov3_from_scale_quat(inputs[1], inputs[2])
    g = torch.Generator().manual_seed(3)
    cot = [torch.randn(s, generator=g, dtype=torch.float64) for s in ((100, 2), (100, 3), (100,), (100,))]
    got = grads(project_gaussians, inputs, cot, antialiased=True, covars=covars)
    want = grads(reference.project_gaussians, inputs, cot, antialiased=True, covars=covars)
    for name, a, b in zip(("means", "opacities", "covars"), got, want):
        assert b.abs().max() > 0, name
        assert_close(a, b, rtol=1e-10, atol=1e-10 * b.abs().max().item(), msg=f"covars path grad {name}")


def test_empty_input(cpu_arch):
    empty = [torch.zeros((0, k), dtype=torch.float32) for k in (3, 3, 4)] + [torch.zeros(0)]
    out = project(project_gaussians, empty, antialiased=False)
    assert out.means2d.shape == (0, 2) and out.radii.shape == (0, 2) and out.radii.dtype == torch.int32


def test_forward_portability(arch):
    """float32 forward on every backend against the reference (last: it may switch backends)."""
    dev = runtime.device()
    inputs = random_scene(0, 300, torch.float64)
    out = project(project_gaussians, [x.float().to(dev) for x in inputs], antialiased=True)
    ref = project(reference.project_gaussians, inputs, antialiased=True)
    assert torch.equal(out.radii.cpu(), ref.radii), arch
    spread = float32_spread(lambda *xs: fields(project(reference.project_gaussians, xs, antialiased=True)),
                            inputs, fields(ref))
    assert_float32_within([t.cpu() for t in fields(out)], fields(ref), spread, FIELDS, arch)
    assert (out.radii > 0).any(1).sum() > 30, arch
