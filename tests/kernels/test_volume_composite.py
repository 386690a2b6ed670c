"""Volume compositing of packed ray samples (`composite_along_rays`) against its torch reference."""

import pytest
import torch

from ngfx.kernels import runtime
from ngfx.kernels.volume import composite_along_rays
from ngfx.kernels.volume.composite import reference as ref
from tests.helpers import assert_close

SEEDS = [0, 1, 2]
F64 = {"rtol": 1e-10, "atol": 1e-12}
F32 = {"rtol": 1e-4, "atol": 2e-5}


def offsets_of(counts) -> torch.Tensor:
    off = torch.zeros(len(counts) + 1, dtype=torch.int32)
    off[1:] = torch.cumsum(torch.as_tensor(counts), 0)
    return off


def samples(seed: int, counts=(5, 0, 9, 1, 14, 3), n_ch: int = 3, dtype=torch.float64, sigma_scale=4.0):
    """Packed samples of rays with `counts` samples each (0: an empty ray): sigmas, rgbs, t_starts, t_ends,
    ray_offsets; contiguous increasing t with uneven steps, densities giving opacities well inside (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    off = offsets_of(counts)
    n = int(off[-1])
    sigmas = torch.rand(n, generator=g, dtype=torch.float64) * sigma_scale
    rgbs = torch.rand((n, n_ch), generator=g, dtype=torch.float64)
    steps = torch.rand(n, generator=g, dtype=torch.float64) * 0.3 + 0.02
    ends = torch.cat([torch.cumsum(steps[a:b], 0) for a, b in zip(off[:-1].tolist(), off[1:].tolist())]) + 0.5
    starts = ends - steps
    return [x.to(dtype) for x in (sigmas, rgbs, starts, ends)] + [off]


def outputs(out):
    return [out.color, out.opacity, out.depth, out.weights]


def background_of(kind, n_rays, n_ch, dtype, seed=0):
    g = torch.Generator().manual_seed(100 + seed)
    shape = {"none": None, "shared": (n_ch,), "per_ray": (n_rays, n_ch)}[kind]
    return None if shape is None else torch.rand(shape, generator=g, dtype=torch.float64).to(dtype)


def grads_both(inputs, kw, cotangent_of, wrt):
    """Gradients of sum(out * g) over the outputs `cotangent_of` picks, via the kernel and the reference."""
    got, want = outputs(composite_along_rays(*inputs, **kw)), outputs(ref.composite_along_rays(*inputs, **kw))
    gen = torch.Generator().manual_seed(7)
    cots = [torch.randn(x.shape, generator=gen, dtype=x.dtype) if use else None
            for x, use in zip(want, cotangent_of)]
    loss_got = sum((x * c).sum() for x, c in zip(got, cots) if c is not None)
    loss_want = sum((x * c).sum() for x, c in zip(want, cots) if c is not None)
    got = torch.autograd.grad(loss_got, wrt, allow_unused=True)
    want = torch.autograd.grad(loss_want, wrt, allow_unused=True)  # rgbs do not reach opacity or depth
    return [[torch.zeros_like(x) if g is None else g for g, x in zip(gs, wrt)] for gs in (got, want)]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n_ch", [1, 3, 16])
@pytest.mark.parametrize("bg", ["none", "shared", "per_ray"])
def test_forward_matches_reference(cpu_arch, seed, n_ch, bg):
    sigmas, rgbs, t0, t1, off = samples(seed, n_ch=n_ch)
    background = background_of(bg, off.shape[0] - 1, n_ch, torch.float64, seed)
    kw = {"background": background}
    got = composite_along_rays(sigmas, rgbs, t0, t1, off, **kw)
    want = ref.composite_along_rays(sigmas, rgbs, t0, t1, off, **kw)
    for name, a, b in zip(("color", "opacity", "depth", "weights"), outputs(got), outputs(want)):
        assert_close(a, b, **F64, msg=f"seed {seed} C {n_ch} bg {bg}: {name}")
    assert 0.2 < float(want.opacity.max()) < 1.0 and float(want.depth.max()) > 0.1, f"seed {seed}: degenerate"
    # float32 kernel against the float64 reference
    got32 = composite_along_rays(*[x.float() for x in (sigmas, rgbs, t0, t1)], off,
                                 background=None if background is None else background.float())
    for name, a, b in zip(("color", "opacity", "depth", "weights"), outputs(got32), outputs(want)):
        assert_close(a.double(), b, **F32, msg=f"seed {seed} C {n_ch} bg {bg}: float32 {name}")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("bg", ["none", "shared", "per_ray"])
@pytest.mark.parametrize("stop", [0.0, 0.05])
def test_backward_random_cotangents(cpu_arch, seed, bg, stop):
    """Random cotangents on color, opacity, depth AND weights together."""
    sigmas, rgbs, t0, t1, off = samples(seed)
    background = background_of(bg, off.shape[0] - 1, 3, torch.float64, seed)
    wrt = [x.requires_grad_() for x in (sigmas, rgbs) + (() if background is None else (background,))]
    kw = {"background": background, "stop_transmittance": stop}
    got, want = grads_both((sigmas, rgbs, t0, t1, off), kw, (True, True, True, True), wrt)
    for name, a, b in zip(("sigmas", "rgbs", "background"), got, want):
        assert float(b.abs().max()) > 1e-3, f"seed {seed}: {name} gradient is degenerate"
        assert_close(a, b, **F64, msg=f"seed {seed} bg {bg} stop {stop}: grad {name}")


@pytest.mark.parametrize("used", [(True, False, False, False), (False, True, True, False),
                                  (False, False, False, True)], ids=["color", "opacity+depth", "weights"])
def test_backward_subsets_of_outputs(cpu_arch, used):
    """Unused outputs send None cotangents: each subset alone still matches (float64, then float32)."""
    for dtype, tol in ((torch.float64, F64), (torch.float32, {"rtol": 1e-4, "atol": 1e-4})):
        sigmas, rgbs, t0, t1, off = samples(3, dtype=dtype)
        background = background_of("shared", off.shape[0] - 1, 3, dtype).requires_grad_()
        wrt = [sigmas.requires_grad_(), rgbs.requires_grad_(), background]
        got, want = grads_both((sigmas, rgbs, t0, t1, off), {"background": background}, used, wrt)
        for name, a, b in zip(("sigmas", "rgbs", "background"), got, want):
            assert_close(a, b, **tol, msg=f"{dtype} outputs {used}: grad {name}")
        assert float(want[0].abs().max()) > 1e-3


@pytest.mark.parametrize("bg", ["shared", "per_ray"])
@pytest.mark.parametrize("stop", [0.0, 0.25])
def test_gradcheck_f64(cpu_arch, bg, stop):
    sigmas, rgbs, t0, t1, off = samples(5, counts=(4, 0, 6, 2), n_ch=2, sigma_scale=3.0)
    background = background_of(bg, 4, 2, torch.float64).requires_grad_()
    kw = {"stop_transmittance": stop}

    def fn(s, c, b):
        return tuple(outputs(composite_along_rays(s, c, t0, t1, off, background=b, **kw)))

    if stop:  # the stop must bite on some ray, with no T within finite-difference reach of the threshold
        ray_ids = ref.ray_ids_from_offsets(off, 12)
        T = torch.exp(-ref._exclusive_segment_cumsum(sigmas * (t1 - t0), ray_ids, off))
        assert float((composite_along_rays(sigmas, rgbs, t0, t1, off, **kw).weights == 0).sum()) > 0
        assert float((T - stop).abs().min()) > 1e-4
    inputs = (sigmas.requires_grad_(), rgbs.requires_grad_(), background)
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7)


def test_empty_rays(cpu_arch):
    """Rays with no samples: pure background, zero opacity and depth; background gets all of gC.
    Also every ray empty (S = 0, no kernel launch) and no rays at all."""
    sigmas, rgbs, t0, t1, off = samples(4, counts=(3, 0, 0, 2))
    background = background_of("per_ray", 4, 3, torch.float64).requires_grad_()
    out = composite_along_rays(sigmas, rgbs, t0, t1, off, background=background)
    assert_close(out.color[1:3], background[1:3].detach(), rtol=0, atol=0)
    opacity, depth = out.opacity.detach(), out.depth.detach()
    assert float(opacity[1:3].abs().max()) == 0 and float(depth[1:3].abs().max()) == 0
    assert float(opacity[[0, 3]].min()) > 0.1
    cot = torch.randn(out.color.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (g_bg,) = torch.autograd.grad((out.color * cot).sum(), background)
    assert_close(g_bg[1:3], cot[1:3], rtol=0, atol=0)
    empty = [torch.zeros(0, dtype=torch.float64), torch.zeros((0, 3), dtype=torch.float64),
             torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.float64)]
    shared = background_of("shared", 3, 3, torch.float64).requires_grad_()
    out = composite_along_rays(*empty, torch.zeros(4, dtype=torch.int32), background=shared)
    assert_close(out.color, shared.detach().expand(3, 3), rtol=0, atol=0)
    (g_bg,) = torch.autograd.grad(out.color.sum(), shared)
    assert_close(g_bg, torch.full((3,), 3.0, dtype=torch.float64), rtol=0, atol=0)
    out = composite_along_rays(*empty, torch.zeros(1, dtype=torch.int32))
    assert out.color.shape == (0, 3) and out.weights.shape == (0,)


def test_stop_transmittance_branch(cpu_arch):
    """A dense sample early in ray 0 drops T below the threshold: later samples get w = 0 exactly, no
    gradient, and the result differs from the unstopped one; rays that stay clear are unchanged."""
    sigmas, rgbs, t0, t1, off = samples(6, counts=(8, 6))
    sigmas[2] = 60.0  # T after it ~ e^-(60 * step) << 1e-2
    sigmas.requires_grad_(), rgbs.requires_grad_()
    stop = 1e-2
    T_before = torch.exp(-torch.cumsum(sigmas.detach() * (t1 - t0), 0) + sigmas.detach() * (t1 - t0))
    assert float(T_before[3]) < stop * 0.1 and float(T_before[2]) > stop * 10  # clear of the band
    got = composite_along_rays(sigmas, rgbs, t0, t1, off, stop_transmittance=stop)
    full = composite_along_rays(sigmas, rgbs, t0, t1, off)
    want = ref.composite_along_rays(sigmas, rgbs, t0, t1, off, stop_transmittance=stop)
    for a, b in zip(outputs(got), outputs(want)):
        assert_close(a, b, **F64)
    assert float(got.weights[3:8].detach().abs().max()) == 0 and float(full.weights[3:8].detach().min()) > 0
    assert float((got.color[0] - full.color[0]).detach().abs().max()) > 1e-9
    gs, gc = torch.autograd.grad(got.color.sum() + got.depth.sum(), (sigmas, rgbs))
    assert float(gs[3:8].abs().max()) == 0 and float(gc[3:8].abs().max()) == 0
    assert float(gs[:3].abs().min()) > 0 and float(gc[:3].abs().min()) > 0


def test_zero_density_is_pure_background(cpu_arch):
    sigmas, rgbs, t0, t1, off = samples(8)
    sigmas = torch.zeros_like(sigmas).requires_grad_()
    rgbs.requires_grad_()
    background = background_of("shared", off.shape[0] - 1, 3, torch.float64)
    out = composite_along_rays(sigmas, rgbs, t0, t1, off, background=background)
    assert_close(out.color, background.expand_as(out.color), rtol=0, atol=0)
    assert float(out.opacity.detach().abs().max()) == 0 and float(out.weights.detach().abs().max()) == 0
    cot = torch.randn(out.color.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    got = torch.autograd.grad((out.color * cot).sum(), (sigmas, rgbs))
    want_color = ref.composite_along_rays(sigmas, rgbs, t0, t1, off, background=background).color
    want = torch.autograd.grad((want_color * cot).sum(), (sigmas, rgbs))
    assert float(got[1].abs().max()) == 0  # no weight, no colour gradient
    assert float(want[0].abs().max()) > 1e-3  # but adding density would change the colour
    assert_close(got[0], want[0], **F64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_saturated_density(cpu_arch, dtype):
    """Huge densities (e^-tau underflows to 0): the first dense sample takes all the weight, finite
    gradients that match the reference."""
    sigmas, rgbs, t0, t1, off = samples(9, counts=(6, 5), dtype=dtype)
    sigmas[1], sigmas[8] = 1e6, 1e4
    sigmas.requires_grad_(), rgbs.requires_grad_()
    out = composite_along_rays(sigmas, rgbs, t0, t1, off)
    assert_close(out.opacity, torch.ones(2, dtype=dtype), rtol=0, atol=1e-6)
    weights = out.weights.detach()
    assert float(weights[2:6].abs().max()) < 1e-30 and float(weights[9:].abs().max()) < 1e-30
    tol = F64 if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-4}
    got, want = grads_both((sigmas, rgbs, t0, t1, off), {}, (True, True, True, True), (sigmas, rgbs))
    assert all(bool(torch.isfinite(g).all()) for g in got)
    for a, b in zip(got, want):
        assert_close(a, b, **tol, msg=str(dtype))


def test_bad_inputs(cpu_arch):
    sigmas, rgbs, t0, t1, off = samples(10)
    with pytest.raises(ValueError, match="int32"):
        composite_along_rays(sigmas, rgbs, t0, t1, off.long())
    with pytest.raises(ValueError, match="end at S"):
        composite_along_rays(sigmas, rgbs, t0, t1, off[:-1])
    with pytest.raises(ValueError, match="background"):
        composite_along_rays(sigmas, rgbs, t0, t1, off, background=torch.zeros(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="C <= 16"):
        composite_along_rays(sigmas, torch.zeros((sigmas.shape[0], 17), dtype=torch.float64), t0, t1, off)
    with pytest.raises(ValueError, match="dtype"):
        composite_along_rays(sigmas, rgbs.float(), t0, t1, off)
    with pytest.raises(ValueError, match="stop_transmittance"):
        composite_along_rays(sigmas, rgbs, t0, t1, off, stop_transmittance=1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_on_every_backend(arch, dtype):
    """Forward parity per backend; then the float32 backward too. Calls with stop 0 before stop 0.05 on
    purpose: on Vulkan, an output element the kernel skipped would show the previous call's value."""
    if arch == "vulkan" and dtype == torch.float64:
        pytest.skip("Vulkan (SPIR-V GLSL.std.450) has no 64-bit exp, which alpha = 1 - exp(-tau) needs")
    sigmas, rgbs, t0, t1, off = samples(11, n_ch=4)
    background = background_of("per_ray", off.shape[0] - 1, 4, torch.float64)
    dev, tol = runtime.device(), (F32 if dtype == torch.float32 else F64)
    for stop in (0.0, 0.05):
        inputs = [x.to(device=dev, dtype=dtype) for x in (sigmas, rgbs, t0, t1)] + [off.to(dev)]
        kw = {"background": background.to(device=dev, dtype=dtype), "stop_transmittance": stop}
        got = composite_along_rays(*inputs, **kw)
        want = ref.composite_along_rays(sigmas, rgbs, t0, t1, off, background=background,
                                        stop_transmittance=stop)
        for name, a, b in zip(("color", "opacity", "depth", "weights"), outputs(got), outputs(want)):
            assert_close(a.cpu().double(), b, **tol, msg=f"{arch} {dtype} stop {stop}: {name}")
        assert float(want.opacity.max()) > 0.2
        if dtype == torch.float32:
            wrt = [inputs[0].requires_grad_(), inputs[1].requires_grad_()]
            g_got, g_want = grads_both(inputs, kw, (True, True, True, True), wrt)
            for name, a, b in zip(("sigmas", "rgbs"), g_got, g_want):
                assert_close(a.cpu(), b.cpu(), rtol=1e-4, atol=1e-4, msg=f"{arch} stop {stop}: grad {name}")
