"""Adaptive density control of 3D and 4D Gaussians: clone, split, prune, opacity reset (REFERENCE 2.7, 3.6).

INRIA's recipe (Kerbl et al. 2023) as gsplat's `DefaultStrategy` runs it, as pure functions over the model
dataclasses; the optimizer is never touched, so any trainer can apply the returned `RowPlan`:

1. Each view adds, for every Gaussian visible in it (both radii > 0), the norm of its 2D-mean gradient in
   NDC units (pixel gradient times (W/2, H/2), REFERENCE 2.5), one view count, its screen radius (running
   max, pixels) and, for 4D, the signed gradient of its time mean mu_t. Either the renderer's backward adds
   the first three in place (`render_gaussians(..., stats=state.values)`, no extra launch; then
   `add_grad_times` for 4D), or `accumulate` adds them after backward (`retain_grad_means2d` before it,
   `read_grad_means2d` after).
2. When `cfg.is_densify_step(step)`, `densify` averages the gradient over the views that saw each Gaussian;
   at or above `grad_threshold` it
   - clones (exact copy, appended) when max xyz scale <= clone_scale_fraction * extent, else
   - splits into `n_split_samples` draws from N(mu, Sigma) (4D: mu4 + R4 S4 z, Yang's 4D sampling) with
     every scale divided by split_scale_divisor; the parent is removed;
   then prunes opacity < prune_opacity and, in the big-pruning window, max screen radius > prune_screen_radius
   or max xyz scale > prune_scale_fraction * extent. Start a fresh state afterwards (see `densify`).
3. When `cfg.is_reset_step(step)` (after densify, as INRIA), `reset_opacity` caps opacity at reset_value.

Duan's 4D rule (REFERENCE 3.6) is on when `time_grad_threshold` is set: also split when |mean grad_t| >=
time_grad_threshold and s_t > time_split_fraction * time_extent, and clone the rest of the candidates.
"""

import dataclasses
import math

import torch

from ngfx.kernels.splat.fused.reference import add_stats
from ngfx.kernels.splat.project.reference import quat_to_rotmat
from ngfx.kernels.splat.slice4d.reference import rotation_matrix_4d

__all__ = ["DensifyConfig", "DensifyState", "RowPlan", "accumulate", "add_grad_times", "densify", "init_state",
           "read_grad_means2d", "reset_opacity", "retain_grad_means2d"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class DensifyConfig:
    """Schedule and thresholds; defaults are INRIA's (Yang's for 4D). `duan()` gives 4DRotorGS's."""

    grad_threshold: float = 2e-4
    """Densify where the view-averaged NDC |d loss / d mean2d| reaches this."""
    start: int = 500
    """Densify on steps start < step < stop with step % every == 0."""
    stop: int = 15_000
    """Last step (exclusive) of densification and opacity resets."""
    every: int = 100
    """Steps between densifications."""
    clone_scale_fraction: float = 0.01
    """Clone if the largest xyz scale <= this * scene extent, else split."""
    n_split_samples: int = 2
    """Children of a split Gaussian, sampled from N(mu, Sigma)."""
    split_scale_divisor: float = 1.6
    """Children's scales are the parent's / this (INRIA's 0.8 * n_split_samples)."""
    prune_opacity: float = 0.005
    """Prune Gaussians whose opacity falls below this."""
    prune_big_from: int = 3000
    """Screen-radius / world-scale pruning on prune_big_from < step < prune_big_until."""
    prune_big_until: int | None = None
    """None: no upper end (INRIA); Duan prunes big Gaussians before step 3000 only."""
    prune_screen_radius: float = 20.0
    """Prune Gaussians whose largest screen radius exceeds this many pixels."""
    prune_scale_fraction: float = 0.1
    """Prune Gaussians whose largest world scale exceeds this * scene extent."""
    reset_every: int = 3000
    """Opacity reset on 0 < step < stop with step % reset_every == 0."""
    reset_value: float = 0.01
    """Opacities are reset to min(opacity, this)."""
    time_grad_threshold: float | None = None
    """4D: None = Yang (the t-gradient is collected but unused); set = Duan's split rule."""
    time_extent: float = 5.0
    """Duan's T_extent (D-NeRF 5, N3V 10)."""
    time_split_fraction: float = 0.2
    """Duan splits on time when s_t > this * time_extent."""

    @classmethod
    def duan(cls, dataset: str = "dnerf", **overrides) -> "DensifyConfig":
        """4DRotorGS settings: D-NeRF g = g_t = 5e-5, T_extent 5; N3V g = g_t = 2e-4, T_extent 10 (g_t = g is
        our assumption for N3V); big Gaussians are pruned before step 3000 instead of after."""
        g, t_extent = {"dnerf": (5e-5, 5.0), "n3v": (2e-4, 10.0)}[dataset]
        base = {"grad_threshold": g, "time_grad_threshold": g, "time_extent": t_extent, "prune_big_from": 0,
                "prune_big_until": 3000}
        return cls(**{**base, **overrides})

    def is_densify_step(self, step: int) -> bool:
        return self.start < step < self.stop and step % self.every == 0

    def is_reset_step(self, step: int) -> bool:
        return 0 < step < self.stop and step % self.reset_every == 0

    def prunes_big(self, step: int) -> bool:
        return self.prune_big_from < step and (self.prune_big_until is None or step < self.prune_big_until)


@dataclasses.dataclass(frozen=True)
class DensifyState:
    """Per-Gaussian statistics since the last densify step: `values` [4, N] (the model's float dtype and
    device), one buffer so the renderer's backward can add to it in place in its own launch
    (`render_gaussians(stats=...)`); its rows are the properties below."""

    values: torch.Tensor

    @classmethod
    def of(cls, grad2d, grad_t, count, max_radii) -> "DensifyState":
        """From the four [N] rows."""
        return cls(torch.stack([grad2d, grad_t, count, max_radii]).contiguous())

    @property
    def grad2d(self) -> torch.Tensor:
        """Sum over visible views of the NDC 2D-mean gradient norm."""
        return self.values[0]

    @property
    def grad_t(self) -> torch.Tensor:
        """Sum over visible views of d loss / d mu_t (signed; zeros for 3D models)."""
        return self.values[1]

    @property
    def count(self) -> torch.Tensor:
        """Number of views in which the Gaussian was visible."""
        return self.values[2]

    @property
    def max_radii(self) -> torch.Tensor:
        """Largest screen radius seen, pixels."""
        return self.values[3]


@dataclasses.dataclass(frozen=True)
class RowPlan:
    """The row surgery `densify` did, the same for every parameter tensor of the model.

    new_param = cat([old_param[keep], appended]) where `appended` = new_param[len(keep):] (n_new rows: clones,
    then split children sample-major). To carry Adam along, do the same to exp_avg and exp_avg_sq with zeros
    for the appended rows (`apply(moment)`); leave `step` alone. reset_rows [len(keep) + n_new] bool, when
    set, marks rows of the new tensors whose moments must also be zeroed (densify sets none).
    With `ngfx.train.optim`, for each name and new tensor t (k = len(keep)): replace_param(opt, name, t[:k],
    plan.keep), then extend_param(opt, name, t[k:]); store the tensor the last call returns in the model.
    """

    keep: torch.Tensor  # int64 [K] old row indices, ascending
    n_new: int
    reset_rows: torch.Tensor | None = None

    @property
    def num_rows(self) -> int:
        return int(self.keep.shape[0]) + self.n_new

    def apply(self, old: torch.Tensor, appended: torch.Tensor | None = None) -> torch.Tensor:
        """cat([old[keep], appended]); appended defaults to zeros (new Adam moments). Not differentiable."""
        kept = old.detach()[self.keep]
        if appended is None:
            appended = kept.new_zeros((self.n_new, *old.shape[1:]))
        assert appended.shape == (self.n_new, *old.shape[1:]), (appended.shape, old.shape)
        return torch.cat([kept, appended.detach().to(kept)])


def init_state(n: int, *, device=None, dtype=torch.float32) -> DensifyState:
    """Empty statistics for n Gaussians."""
    return DensifyState(torch.zeros((4, n), device=device, dtype=dtype))


def retain_grad_means2d(means2d: torch.Tensor) -> None:
    """Call on SplatRender.means2d before backward. It may be a view into the rasterizer's packed rows that
    the loss never reads, so the gradient is kept on the tensor it lands in (the view's base)."""
    (means2d if means2d._base is None else means2d._base).retain_grad()


def read_grad_means2d(means2d: torch.Tensor) -> torch.Tensor | None:
    """d loss / d means2d [N, 2] in pixels after backward (see `retain_grad_means2d`); None if none came."""
    base = means2d._base
    if base is None or base.grad is None:
        return means2d.grad if base is None else None
    grad = base.grad if base.grad.stride() == base.stride() else torch.empty_strided(
        base.shape, base.stride(), dtype=base.dtype, device=base.device).copy_(base.grad)
    # the view's layout inside its base, replayed on a gradient with the base's layout
    offset = means2d.storage_offset() - base.storage_offset() + grad.storage_offset()
    return grad.as_strided(means2d.shape, means2d.stride(), offset)


def accumulate(state: DensifyState, grad_means2d: torch.Tensor, radii: torch.Tensor, width: int, height: int,
               *, grad_times: torch.Tensor | None = None) -> DensifyState:
    """Add one rendered view's statistics (module docstring, step 1); returns a new state.

    grad_means2d [N, 2]: d loss / d SplatRender.means2d in pixels (`read_grad_means2d` after backward);
    radii [N, 2] int: the render's radii, 0 = culled; grad_times [N]: d loss / d means4[:, 3] (4D only).
    Only visible Gaussians count; NaN or inf gradients of culled rows are ignored.
    """
    n = state.count.shape[0]
    assert grad_means2d.shape == (n, 2) and radii.shape == (n, 2), (grad_means2d.shape, radii.shape, n)
    values = state.values.clone()
    add_stats(values, grad_means2d, radii, width, height)  # INRIA's NDC units, which the threshold assumes
    if grad_times is not None:
        assert grad_times.shape == (n,), grad_times.shape
        add_grad_times(DensifyState(values), grad_times, radii)
    return DensifyState(values)


def add_grad_times(state: DensifyState, grad_times: torch.Tensor, radii: torch.Tensor) -> None:
    """4D: add d loss / d mu_t [N] where the view's radii are both > 0, in place (the rest of a view's
    statistics come from `accumulate` or the renderer's backward)."""
    visible = (radii > 0).all(dim=-1)
    state.grad_t.add_(torch.where(visible, grad_times.detach().to(state.grad_t), 0.0))


def _choose(model, state: DensifyState, cfg: DensifyConfig, step: int, extent: float):
    """Bool masks [N] over the current Gaussians: (clone, split, prune, prune split children)."""
    views = state.count.clamp_min(1)
    high = state.grad2d / views >= cfg.grad_threshold
    scale_xyz = model.scales.detach()[:, :3].max(dim=-1).values
    small = scale_xyz <= cfg.clone_scale_fraction * extent
    split, clone = high & ~small, high & small
    if cfg.time_grad_threshold is not None and hasattr(model, "means4"):  # Duan's time-gradient rule
        high_t = (state.grad_t / views).abs() >= cfg.time_grad_threshold
        long_t = model.scales.detach()[:, 3] > cfg.time_split_fraction * cfg.time_extent
        split = split | (high_t & long_t)
        clone = (clone | (high_t & ~long_t)) & ~split
    faint = model.opacities.detach() < cfg.prune_opacity
    prune, prune_children = faint.clone(), faint.clone()
    if cfg.prunes_big(step):
        limit = cfg.prune_scale_fraction * extent
        prune |= (state.max_radii > cfg.prune_screen_radius) | (scale_xyz > limit)
        # children were never seen on screen: only their (divided) world scale can condemn them
        prune_children |= scale_xyz / cfg.split_scale_divisor > limit
    return clone, split, prune, prune_children


def _split_rows(model, parents: torch.Tensor, cfg: DensifyConfig, generator) -> dict[str, torch.Tensor]:
    """Children of `parents` (sample-major): means drawn from N(mu, R S^2 R^T), scales / divisor."""
    params = {k: v.detach() for k, v in model.parameter_dict().items()}
    mean_name, k = model.PARAMETER_NAMES[0], cfg.n_split_samples
    mu = params[mean_name][parents]
    if hasattr(model, "means4"):
        rot = rotation_matrix_4d(params["rotations"][parents], model.rotation)
    else:
        rot = quat_to_rotmat(params["quats"][parents])
    z = torch.randn((k, *mu.shape), generator=generator, dtype=mu.dtype, device=mu.device)
    offsets = torch.einsum("pij,pj,spj->spi", rot, params["log_scales"][parents].exp(), z)
    out = {name: p[parents].repeat(k, *([1] * (p.ndim - 1))) for name, p in params.items()}
    out[mean_name] = (mu + offsets).reshape(-1, mu.shape[-1])
    out["log_scales"] = out["log_scales"] - math.log(cfg.split_scale_divisor)
    return out


def densify(model, state: DensifyState, cfg: DensifyConfig, step: int, extent: float, *,
            generator: torch.Generator | None = None):
    """Clone, split and prune `model` (Gaussians3D or Gaussians4D) on a densify step -> (new_model, plan).

    extent: the scene's spatial extent (INRIA: 1.1 x the camera-centre radius), world units. Off the densify
    schedule this returns (model, None) and the state keeps accumulating. On it, the plan may keep every row
    and append none, and the caller must restart the statistics: state = init_state(new_model.num_gaussians).
    New tensors are fresh leaves (same requires_grad, no .grad); split samples use `generator` (on the model's
    device), so a seeded generator makes the result deterministic. Rows: kept originals in order, then clones,
    then children. A clone of a pruned Gaussian is dropped too (it is an exact copy).
    """
    if not cfg.is_densify_step(step):
        return model, None
    n = model.num_gaussians
    assert state.count.shape == (n,), f"state has {state.count.shape[0]} rows, model {n}"
    clone, split, prune, prune_children = _choose(model, state, cfg, step, extent)
    keep = torch.nonzero(~(split | prune)).squeeze(1)
    params = {k: v.detach() for k, v in model.parameter_dict().items()}
    clones = torch.nonzero(clone & ~prune).squeeze(1)
    children = _split_rows(model, torch.nonzero(split & ~prune_children).squeeze(1), cfg, generator)
    plan = RowPlan(keep=keep, n_new=int(clones.shape[0]) + children["opacity_logits"].shape[0])
    new = {}
    for name, p in params.items():
        appended = torch.cat([p[clones], children[name]])
        new[name] = plan.apply(p, appended).requires_grad_(model.parameter_dict()[name].requires_grad)
    return dataclasses.replace(model, **new), plan


def reset_opacity(model, cfg: DensifyConfig):
    """Cap every opacity at cfg.reset_value -> (new_model, reset_mask [N] bool).

    Only `opacity_logits` is a new tensor (a fresh leaf): swap it into the optimizer keeping every row and
    zero its Adam moments where reset_mask is set, which is every row, as INRIA and gsplat zero all of it.
    """
    logits = model.opacity_logits
    cap = math.log(cfg.reset_value / (1.0 - cfg.reset_value))  # logit, so sigmoid(new) = min(o, reset_value)
    new = torch.clamp(logits.detach(), max=cap).requires_grad_(logits.requires_grad)
    mask = torch.ones(logits.shape[0], dtype=torch.bool, device=logits.device)
    return dataclasses.replace(model, opacity_logits=new), mask
