"""Gaussian rasterizer (Taichi, hand-written backward) against its autograd torch reference.

Tile lists come from the pure-torch tile binning reference, so these tests build only rasterizer kernels.
"""

import math

import pytest
import torch

from ngfx.kernels import runtime
from ngfx.kernels.splat.rasterize import rasterize_gaussians as _rasterize
from ngfx.kernels.splat.rasterize import reference
from ngfx.kernels.splat.tiles import reference as tiles_reference
from tests.helpers import assert_close

SEEDS = [0, 1, 2]
W, H = 40, 36  # 3 x 3 tiles, the last column and row partial
EMPTY_TILE = 8  # the bottom-right tile: random scenes leave it empty
OUTPUTS = ("features", "alpha", "depth")  # the differentiable outputs


def scene_inputs(means2d, sigmas, angles, opacities, features, depths, width=W, height=H):
    """Gaussians from per-axis pixel sigmas and rotation angles, listed with their 3-sigma boxes:
    [means2d, conics, opacities, features, depths, tile_ranges, point_ids]."""
    c, s = torch.cos(angles), torch.sin(angles)
    vx, vy = sigmas[:, 0] ** 2, sigmas[:, 1] ** 2
    sxx, syy, sxy = c * c * vx + s * s * vy, s * s * vx + c * c * vy, c * s * (vx - vy)
    det = sxx * syy - sxy * sxy
    conics = torch.stack([syy / det, -sxy / det, sxx / det], dim=1)
    radii = torch.stack([torch.ceil(3 * sxx.sqrt()), torch.ceil(3 * syy.sqrt())], dim=1).to(torch.int32)
    tiles = tiles_reference.map_to_tiles(means2d, radii, depths, width, height)
    return [means2d, conics, opacities, features, depths, tiles.tile_ranges, tiles.point_ids]


def uniform(seed):
    """rand(*shape): float64 uniform [0, 1) draws from a generator seeded with `seed`."""
    g = torch.Generator().manual_seed(seed)
    return lambda *shape: torch.rand(*shape, generator=g, dtype=torch.float64)


def random_scene(seed, n=50, n_features=3, dtype=torch.float64, width=W, height=H, stack=6):
    """Gaussians on and around the image: some opaque (0.99 clamp), some faint (< 1/255 everywhere), and a
    stack of `stack` opaque layers at one spot (early stop); nothing reaches the bottom-right tile."""
    rand = uniform(seed)
    means2d = (rand(n, 2) * 1.2 - 0.1) * torch.tensor([width, height])
    sigmas = rand(n, 2) * 3.0 + 0.6
    opacities = rand(n) * 0.9 + 0.05
    opacities[: n // 8] = 1.0
    opacities[n // 8: n // 6] = 0.003
    means2d[-stack:] = torch.tensor([0.3 * width, 0.4 * height]) + rand(stack, 2)
    sigmas[-stack:], opacities[-stack:] = 4.0, 0.98
    reach = means2d + 3 * sigmas.max(1, keepdim=True).values + 1  # >= the 3-sigma box's far corner
    means2d[(reach >= 32).all(1), 1] -= 20.0  # keep every box out of the bottom-right tile (x, y >= 32)
    args = [means2d, sigmas, rand(n) * math.pi, opacities, rand(n, n_features), rand(n) * 5 + 1]
    inputs = scene_inputs(*[a.to(dtype) for a in args], width=width, height=height)
    return inputs, rand(n_features).to(dtype)


def rasterize(inputs, width=W, height=H, background=None):
    """The kernel on the backend's device; outputs keep their graph (on the CPU they are the same tensors)."""
    dev = runtime.device()
    bg = None if background is None else background.to(dev)
    return _rasterize(*[x.to(dev) for x in inputs], width, height, background=bg)


def compare(out, ref, tol, msg):
    """Every output of the kernel against the reference: floats within tol, ids exactly."""
    for name in OUTPUTS + ("median_depth",):
        assert_close(getattr(out, name).cpu().double(), getattr(ref, name).double(), rtol=tol, atol=tol,
                     msg=f"{msg} {name}")
    assert torch.equal(out.last_ids.cpu(), ref.last_ids), f"{msg}: last_ids differ"
    assert out.last_ids.dtype == torch.int32, msg


def leaves(inputs, background):
    """Float inputs (and the background) as fresh leaves; the tile lists stay as they are."""
    floats = [x.detach().clone().requires_grad_(True) for x in inputs[:5]]
    bg = None if background is None else background.detach().clone().requires_grad_(True)
    return floats + inputs[5:], bg


def grads(out, cotangents, inputs, background):
    """d/d(inputs) of sum(out * g) over features, alpha and depth, both paths alike."""
    loss = sum((getattr(out, name).cpu() * g).sum() for name, g in zip(OUTPUTS, cotangents))
    wrt = inputs[:5] + ([] if background is None else [background])
    return torch.autograd.grad(loss, wrt)


@pytest.mark.parametrize("seed", SEEDS)
def test_forward_matches_reference(arch, seed):
    for dtype in [torch.float32] if arch != "cpu" else [torch.float32, torch.float64]:
        inputs, bg = random_scene(seed, dtype=dtype)
        msg = f"{arch} seed {seed} {dtype}"
        assert int(inputs[5][EMPTY_TILE].diff()) == 0, msg
        for background in (None, bg):
            out = rasterize(inputs, background=background)
            ref = reference.rasterize_gaussians(*inputs, W, H, background=background)
            compare(out, ref, 1e-12 if dtype == torch.float64 else 2e-5, msg)
        alpha = ref.alpha
        assert alpha.max() > 0.999 and (alpha > 0.05).float().mean() > 0.5, f"{msg}: degenerate scene"
        assert (alpha[32:, 32:] == 0).all(), f"{msg}: the empty tile is covered"
        assert torch.equal(out.features[32:, 32:].cpu(), bg.expand(4, 8, 3)), msg
        assert (ref.median_depth > 0).any() and (ref.last_ids >= 0).float().mean() > 0.5, msg


@pytest.mark.parametrize("seed, n_features, with_bg", [(0, 3, True), (1, 1, False), (2, 4, True)])
def test_backward_matches_reference(cpu_arch, seed, n_features, with_bg):
    inputs, bg = random_scene(seed, n_features=n_features)
    (inputs, background), msg = leaves(inputs, bg if with_bg else None), f"seed {seed} F={n_features}"
    out = rasterize(inputs, background=background)
    ref = reference.rasterize_gaussians(*inputs, W, H, background=background)
    g = torch.Generator().manual_seed(100 + seed)
    cotangents = [torch.randn(getattr(ref, name).shape, generator=g, dtype=torch.float64) for name in OUTPUTS]
    names = ("means2d", "conics", "opacities", "features", "depths", "background")
    got, expect = grads(out, cotangents, inputs, background), grads(ref, cotangents, inputs, background)
    for name, a, b in zip(names, got, expect):
        assert b.abs().max() > 1e-3, f"{msg}: reference gradient of {name} is empty"
        assert_close(a, b, rtol=1e-9, atol=1e-9 * float(b.abs().max()), msg=f"{msg} d{name}")


@pytest.mark.parametrize("used", [("features",), ("features", "alpha"), ("alpha",)])
def test_backward_without_a_depth_cotangent(cpu_arch, used, monkeypatch):
    """Training on colour alone: depth's cotangent is None, and the lighter kernel (depth_grad=False) runs;
    its gradients equal the reference's for the outputs used, and depths get none."""
    from ngfx.kernels.splat.rasterize import op

    inputs, bg = random_scene(3, n_features=3)
    (inputs, background) = leaves(inputs, bg)
    calls = []
    kernels = op._kernels("f64", 3, runtime.arch(), runtime.generation())
    for name in ("bwd", "bwd_colour"):
        monkeypatch.setattr(kernels, name, lambda *a, _k=getattr(kernels, name), _n=name: (calls.append(_n), _k(*a)))
    out = rasterize(inputs, background=background)
    ref = reference.rasterize_gaussians(*inputs, W, H, background=background)
    g = torch.Generator().manual_seed(7)
    cot = {name: torch.randn(getattr(ref, name).shape, generator=g, dtype=torch.float64) for name in used}
    wrt = inputs[:5] + [background]
    got = torch.autograd.grad(sum((getattr(out, k) * c).sum() for k, c in cot.items()), wrt, allow_unused=True)
    want = torch.autograd.grad(sum((getattr(ref, k) * c).sum() for k, c in cot.items()), wrt, allow_unused=True)
    assert calls == ["bwd_colour"]
    for name, a, b in zip(("means2d", "conics", "opacities", "features", "depths", "background"), got, want):
        if name == "depths" or b is None:  # depth unused; features and background do not move alpha
            assert (a is None or not a.abs().max()) and (b is None or not b.abs().max()), name
            continue
        assert b.abs().max() > 1e-3, f"{used}: reference gradient of {name} is empty"
        assert_close(a, b, rtol=1e-9, atol=1e-9 * float(b.abs().max()), msg=f"{used} d{name}")


def check_float32(arch, seed, n, n_features):
    """float32 outputs and gradients (random cotangents) against the float64 reference."""
    inputs64, bg64 = random_scene(seed, n=n, n_features=n_features)
    inputs32, bg32 = leaves([x.float() if x.is_floating_point() else x for x in inputs64], bg64.float())
    inputs64, bg64 = leaves(inputs64, bg64)
    out = rasterize(inputs32, background=bg32)
    ref = reference.rasterize_gaussians(*inputs64, W, H, background=bg64)
    msg = f"{arch} seed {seed} F={n_features}"
    compare(out, ref, 2e-5, msg)
    g = torch.Generator().manual_seed(seed)
    cotangents = [torch.randn(getattr(ref, name).shape, generator=g, dtype=torch.float64) for name in OUTPUTS]
    got = grads(out, [c.float() for c in cotangents], inputs32, bg32)
    for name, a, b in zip(("means2d", "conics", "opacities", "features", "depths", "bg"), got,
                          grads(ref, cotangents, inputs64, bg64)):
        assert_close(a.double(), b, rtol=2e-3, atol=2e-4 * float(b.abs().max()), msg=f"{msg} d{name}")


def test_backward_float32_every_backend(arch):
    """A dense scene (many pairs per Gaussian). On Vulkan this also watches the Mesa lavapipe bug that
    drops atomics issued inside serial inner loops."""
    check_float32(arch, 3, n=80, n_features=3)


@pytest.mark.filterwarnings("ignore:You are unrolling more than:SyntaxWarning")  # 39 values a row: fine
def test_many_channels_read_from_global(arch):
    """F = 32: too many channels to stage in shared memory, so GPU kernels read them from global memory."""
    check_float32(arch, 4, n=30, n_features=32)


def pair_margins(inputs, width, height):
    """Smallest relative distance of any listed (pixel, Gaussian) pair to the 0.99 clamp, the 1/255 cut
    and the 1e-4 stop (finite differences must not cross one); whether the clamp and the cut are hit."""
    means2d, conics, opacities, _, _, tile_ranges, point_ids = inputs
    tiles_x, worst, clamped, cut = -(-width // 16), float("inf"), False, False
    for tile, (start, end) in enumerate(tile_ranges.tolist()):
        ids = point_ids[start:end].long()
        ys, xs = torch.meshgrid(torch.arange(16) + tile // tiles_x * 16,
                                torch.arange(16) + tile % tiles_x * 16, indexing="ij")
        keep = (xs < width) & (ys < height)
        dx = means2d[ids, 0] - (xs[keep, None] + 0.5)
        dy = means2d[ids, 1] - (ys[keep, None] + 0.5)
        a, b, c = conics[ids].unbind(1)
        raw = opacities[ids] * torch.exp(-0.5 * (a * dx * dx + c * dy * dy) - b * dx * dy)
        alpha = torch.where(raw >= 1 / 255, raw.clamp(max=0.99), 0.0)
        t_after = torch.cumprod(1 - alpha, dim=1)
        clamped, cut = clamped or bool((raw > 0.99).any()), cut or bool((raw < 1 / 255).any())
        for value, edge in ((raw, 0.99), (raw, 1 / 255), (t_after, 1e-4)):
            if value.numel():
                worst = min(worst, float(((value - edge).abs() / edge).min()))
    return worst, clamped, cut


@pytest.mark.parametrize("width, height", [(16, 16), (24, 12)])
def test_gradcheck_float64(cpu_arch, width, height):
    """Finite differences on tiny scenes; at 24x12 every Gaussian straddles the two tiles' border."""
    for seed in range(20):  # the first seed whose pairs all keep clear of the branch thresholds
        rand = uniform(seed)
        n = 8
        means2d = rand(n, 2) * torch.tensor([6.0, height - 4.0]) + torch.tensor([width / 2 - 3, 2.0])
        means2d[0] = torch.floor(means2d[0]) + 0.4 + 0.2 * rand(2)  # near a pixel centre, so that
        opacities = torch.cat([torch.ones(1), rand(n - 1) * 0.8 + 0.15])  # opacity 1 hits the 0.99 clamp
        args = [means2d, rand(n, 2) * 2 + 1.5, rand(n) * math.pi, opacities, rand(n, 2), rand(n) * 4 + 1]
        inputs = scene_inputs(*args, width=width, height=height)
        margin, clamped, cut = pair_margins(inputs, width, height)
        if margin > 1e-4:
            break
    assert margin > 1e-4 and clamped and cut, (margin, clamped, cut)
    background = rand(2)
    ref = reference.rasterize_gaussians(*inputs, width, height, background=background)
    assert ref.alpha.max() > 0.9 and (ref.alpha > 0).float().mean() > 0.8, "degenerate scene"

    def render(*floats):
        out = _rasterize(*floats[:5], *inputs[5:], width, height, background=floats[5])
        return out.features, out.alpha, out.depth

    leaves_ = [x.clone().requires_grad_(True) for x in inputs[:5] + [background]]
    assert torch.autograd.gradcheck(render, leaves_, eps=1e-6, atol=1e-6, rtol=1e-5)


def single(mx, my, sigma, opacity, conic=None):
    """One Gaussian (isotropic unless `conic` is given) at depth 2 as rasterizer inputs, float64."""
    return stack_of([opacity], [2.0], mx, my, sigma, conic)


def test_pixel_centre_convention(arch):
    """A tiny Gaussian centred at (i + 0.5, j + 0.5) peaks at pixel (i, j), symmetrically."""
    i, j = 21, 5
    inputs = [x.float() if x.is_floating_point() else x for x in single(i + 0.5, j + 0.5, 0.6, 0.9)]
    alpha = rasterize(inputs).alpha.cpu()
    assert divmod(int(alpha.argmax()), W) == (j, i)
    assert_close(alpha[j, i], torch.tensor(0.9), rtol=1e-6, atol=1e-7)
    assert alpha[j, i - 1] == alpha[j, i + 1] > 0 and alpha[j - 1, i] == alpha[j + 1, i] > 0


def test_clamp_and_faint_cut(cpu_arch):
    """Opacity 1 at a pixel centre clamps to 0.99, with zero geometry gradient there; alpha < 1/255 is cut."""
    inputs, _ = leaves(single(8.5, 8.5, 3.0, 1.0), None)
    out = rasterize(inputs)
    assert out.alpha[8, 8] == 0.99 and int(out.last_ids[8, 8]) == 0
    for path in (out, reference.rasterize_gaussians(*inputs, W, H)):
        d_means, d_opacity = torch.autograd.grad(path.alpha[8, 8], [inputs[0], inputs[2]], retain_graph=True)
        assert d_means.abs().max() == 0 and d_opacity.abs().max() == 0
        d_means, d_opacity = torch.autograd.grad(path.alpha[8, 12], [inputs[0], inputs[2]])  # unclamped
        assert d_means.abs().max() > 0 and d_opacity.abs().max() > 0
    faint = rasterize(single(8.5, 8.5, 3.0, 0.5)).alpha
    xs, ys = torch.arange(W, dtype=torch.float64) + 0.5, torch.arange(H, dtype=torch.float64) + 0.5
    expect = 0.5 * torch.exp(-0.5 * ((xs[None] - 8.5) ** 2 + (ys[:, None] - 8.5) ** 2) / 9.0)
    listed = torch.zeros(H, W, dtype=torch.bool)
    listed[:32, :32] = True  # the four tiles the 9-pixel radius reaches
    cut = listed & (expect > 0) & (expect < 1 / 255)
    assert cut.sum() > 20 and (faint[cut] == 0).all()
    assert_close(faint[~cut & listed], expect[~cut & listed], rtol=1e-12, atol=1e-15)
    assert (rasterize(single(8.5, 8.5, 3.0, 0.003)).last_ids == -1).all()  # below 1/255 everywhere


def stack_of(opacities, depths, mx=8.5, my=8.5, sigma=6.0, conic=None):
    """Concentric Gaussians, one per (opacity, depth), features = 1 + their index; float64."""
    n, f64 = len(opacities), {"dtype": torch.float64}
    means2d, depth = torch.tensor([[mx, my]] * n, **f64).reshape(n, 2), torch.tensor(depths, **f64)
    conic = conic or (1 / sigma**2, 0.0, 1 / sigma**2)
    conics = torch.tensor([conic] * n, **f64).reshape(n, 3)
    radii = torch.full((n, 2), math.ceil(3 * sigma), dtype=torch.int32)
    tiles = tiles_reference.map_to_tiles(means2d, radii, depth, W, H)
    features = torch.arange(1, n + 1, **f64)[:, None].repeat(1, 3)
    opacities = torch.tensor(opacities, **f64)
    return [means2d, conics, opacities, features, depth, tiles.tile_ranges, tiles.point_ids]


def test_early_stop_median_and_last_ids(cpu_arch):
    """Opaque layers: T = 0.02, 4e-4, then 8e-6 < 1e-4 stops before the third nearest; listed out of order."""
    depths = [5.0, 2.0, 1.0, 4.0, 3.0]  # nearest first: ids 2, 1, 4, 3, 0
    inputs = stack_of([0.98] * 5, depths)
    out, ref = rasterize(inputs), reference.rasterize_gaussians(*inputs, W, H)
    compare(out, ref, 1e-12, "stack")
    assert int(out.last_ids[8, 8]) == 1, "the second nearest is the last contributor at the centre"
    assert_close(out.alpha[8, 8], torch.tensor(1 - 0.02**2, dtype=torch.float64), rtol=1e-12, atol=1e-14)
    w1, w2 = 0.98, 0.98 * 0.02
    assert_close(out.depth[8, 8], torch.tensor((w1 * 1.0 + w2 * 2.0) / (w1 + w2), dtype=torch.float64),
                 rtol=1e-12, atol=1e-12)
    assert out.median_depth[8, 8] == 1.0 and (out.last_ids[:16, :16] >= 0).all()
    saturated = out.alpha > 1 - 1e-4  # the stop leaves T >= 1e-4 everywhere
    assert not saturated.any() and (out.alpha > 0.99).sum() > 20

    inputs = stack_of([0.4, 0.5, 0.3], [1.0, 2.0, 3.0], sigma=40.0)  # T: 0.6, then 0.3 <= 0.5 at the centre
    out = rasterize(inputs)
    assert out.median_depth[8, 8] == 2.0 and int(out.last_ids[8, 8]) == 2
    out = rasterize(stack_of([0.3], [1.5]))
    assert (out.median_depth == 0).all() and out.alpha.max() > 0.29, "T never reaches 0.5: no median"


def test_power_positive_is_skipped(cpu_arch):
    """A conic that is not positive definite: pixels where power > 0 get nothing (not alpha = 0.99)."""
    inputs = single(8.5, 8.5, 3.0, 0.7, conic=(0.05, 0.2, 0.05))  # power = 0.15 d^2 > 0 along x = -y
    out, ref = rasterize(inputs), reference.rasterize_gaussians(*inputs, W, H)
    compare(out, ref, 1e-12, "indefinite conic")
    anti = torch.tensor([out.alpha[8 + k, 8 - k] for k in range(1, 8)])
    diag = torch.tensor([out.alpha[8 + k, 8 + k] for k in range(1, 3)])
    assert (anti == 0).all() and (diag > 0.1).all() and out.alpha[8, 8] == 0.7


@pytest.mark.parametrize("n_gaussians", [0, 3])
def test_empty_tiles_and_background(cpu_arch, n_gaussians):
    """Uncovered pixels (empty tiles, or no Gaussians at all) show the background, alpha 0, no ids."""
    inputs = stack_of([0.5] * n_gaussians, [1.0 + k for k in range(n_gaussians)], sigma=2.0)
    background = torch.tensor([0.25, 0.5, 1.0], dtype=torch.float64)
    for bg in (None, background):
        out = rasterize(inputs, background=bg)
        empty = out.alpha == 0
        assert empty.float().mean() > 0.9 and (out.last_ids[empty] == -1).all()
        assert (out.depth[empty] == 0).all() and (out.median_depth[empty] == 0).all()
        expect = torch.zeros(3, dtype=torch.float64) if bg is None else background
        assert (out.features[empty] == expect).all()
        assert (n_gaussians == 0) == bool(empty.all())
    inputs, bg = leaves(inputs, background)
    g = torch.randn(H, W, 3, generator=torch.Generator().manual_seed(n_gaussians), dtype=torch.float64)
    d_bg = torch.autograd.grad((rasterize(inputs, background=bg).features * g).sum(), bg)[0]
    ref = reference.rasterize_gaussians(*inputs, W, H, background=bg)
    assert_close(d_bg, torch.autograd.grad((ref.features * g).sum(), bg)[0], rtol=1e-12, atol=1e-12)
