"""Gaussian models: shape checks, activations, SH layout, device moves, parameter access and robust bounds."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from ngfx.splatting import Gaussians3D, Gaussians4D, normalize_rotor
from tests.helpers import assert_close
from tests.splatting import random_gaussians_3d, random_gaussians_4d


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_sh_degree_and_coeffs_follow_sh_rest(degree):
    model = random_gaussians_3d(5, degree)
    assert model.sh_degree == degree
    coeffs = model.sh_coeffs
    assert coeffs.shape == (5, (degree + 1) ** 2, 3)
    assert torch.equal(coeffs[:, :1], model.sh_dc) and torch.equal(coeffs[:, 1:], model.sh_rest)


def test_activations():
    model = random_gaussians_3d(6)
    assert_close(model.scales, torch.exp(model.log_scales))
    assert_close(model.opacities, 1 / (1 + torch.exp(-model.opacity_logits)))
    assert_close(model.unit_quats.norm(dim=-1), torch.ones(6))
    assert_close(model.unit_quats * model.quats.norm(dim=-1, keepdim=True), model.quats)
    assert model.num_gaussians == 6 and model.device == torch.device("cpu")


def _fields(model):
    return {f.name: getattr(model, f.name) for f in dataclasses.fields(model)}


@pytest.mark.parametrize("name, shape", [("means", (5, 2)), ("log_scales", (5, 3, 1)), ("quats", (4, 4)),
                                         ("sh_dc", (5, 3)), ("sh_rest", (5, 15, 1))])
def test_wrong_shapes_name_the_field(name, shape):
    fields = _fields(random_gaussians_3d(5))
    fields[name] = torch.zeros(shape)
    with pytest.raises(ValueError, match=name):
        Gaussians3D(**fields)


def test_bad_dtype_device_type_mode_and_sh_count():
    fields = _fields(random_gaussians_3d(5))
    with pytest.raises(ValueError, match="quats is torch.float64"):
        Gaussians3D(**{**fields, "quats": fields["quats"].double()})
    with pytest.raises(ValueError, match="floating-point"):
        Gaussians3D(**{**fields, "quats": fields["quats"].int()})
    for name in ("means", "opacity_logits"):
        with pytest.raises(TypeError, match=f"{name} must be a torch.Tensor"):
            Gaussians3D(**{**fields, name: fields[name].numpy()})
    with pytest.raises(ValueError, match="render_mode"):
        Gaussians3D(**{**fields, "render_mode": "mip"})
    with pytest.raises(ValueError, match="6 SH bases"):
        Gaussians3D(**{**fields, "sh_rest": torch.zeros(5, 5, 3)})
    with pytest.raises(ValueError, match="25 SH bases"):  # degree 4 is beyond the kernels
        Gaussians3D(**{**fields, "sh_rest": torch.zeros(5, 24, 3)})


def test_to_detach_select_and_parameter_dict():
    model = random_gaussians_3d(5)
    moved = model.to("meta")
    assert all(t.device.type == "meta" for t in moved.parameter_dict().values())
    assert model.means.device.type == "cpu", "to() must not change the original"
    params = model.parameter_dict()
    assert list(params) == ["means", "log_scales", "quats", "opacity_logits", "sh_dc", "sh_rest"]
    assert params["quats"] is model.quats
    picked = model.select(torch.tensor([True, False, True, False, False]))
    assert picked.num_gaussians == 2 and torch.equal(picked.sh_rest[1], model.sh_rest[2])
    assert picked.render_mode == model.render_mode


def test_requires_grad_reaches_every_parameter():
    model = random_gaussians_3d(4, 1).requires_grad_()
    assert all(t.requires_grad for t in model.parameter_dict().values())
    weights = torch.randn(4, 4, 3, generator=torch.Generator().manual_seed(1))
    loss = (model.sh_coeffs * weights).sum() + (model.scales.sum() + model.opacities.sum() + model.means.sum()
                                                 + model.unit_quats.sum())
    loss.backward()
    assert torch.equal(model.sh_rest.grad, weights[:, 1:]) and torch.equal(model.sh_dc.grad, weights[:, :1])
    assert all(t.grad is not None for t in model.parameter_dict().values())
    detached = model.detach()
    assert not any(t.requires_grad for t in detached.parameter_dict().values())
    model.requires_grad_(False)
    assert not any(t.requires_grad for t in model.parameter_dict().values())


def test_bounds_ignore_floaters_and_non_finite_means():
    g = torch.Generator().manual_seed(2)
    means = torch.rand(1000, 3, generator=g)  # the unit cube
    means[:3] = 1e6  # floaters, fewer than 0.5 %
    means[3, 1] = math.nan
    model = dataclasses.replace(random_gaussians_3d(1000, 0), means=means)
    lo, hi = model.bounds()
    assert lo.dtype == np.float64 and lo.shape == (3,)
    assert np.all(lo >= 0) and np.all(lo < 0.02) and np.all(hi <= 1) and np.all(hi > 0.98), (lo, hi)
    lo, hi = model.bounds(0, 100)
    assert np.all(hi == 1e6)
    empty = dataclasses.replace(model, means=torch.full((1000, 3), math.inf))
    assert empty.bounds() is None


def test_4d_views_duration_and_sh_blocks():
    model = random_gaussians_4d(5, sh_degree=2, sh_degree_t=2, time_range=(1.0, 3.5))
    assert model.sh_degree == 2 and model.sh_coeffs.shape == (5, 27, 3)
    assert model.duration == 2.5 and model.time_range == (1.0, 3.5)
    assert torch.equal(model.means, model.means4[:, :3]) and torch.equal(model.times, model.means4[:, 3])
    lo, _hi = model.bounds(0, 100)
    assert np.array_equal(lo, model.means.min(0).values.double().numpy())
    assert list(model.parameter_dict()) == ["means4", "log_scales", "rotations", "opacity_logits", "sh_dc",
                                            "sh_rest"]


def test_4d_bad_values_raise():
    fields = _fields(random_gaussians_4d(5, sh_degree=1, sh_degree_t=1))
    cases = [({"rotation": "euler"}, "rotation must be"), ({"sh_degree_t": -1}, "sh_degree_t"),
             ({"sh_degree_t": True}, "sh_degree_t"), ({"time_range": (2.0, 2.0)}, "time_range"),
             ({"time_range": (0.0, math.inf)}, "time_range"), ({"sh_degree_t": 2}, "3 equal temporal blocks"),
             ({"log_scales": torch.zeros(5, 3)}, "log_scales has shape"),
             ({"rotations": torch.zeros(5, 4)}, "rotations has shape")]
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            Gaussians4D(**{**fields, **change})


def test_dualquat_unit_rotations():
    model = random_gaussians_4d(6, rotation="dualquat")
    unit = model.unit_rotations
    assert_close(unit[:, :4].norm(dim=-1), torch.ones(6))
    assert_close(unit[:, 4:].norm(dim=-1), torch.ones(6))


def test_rotor_normalization_removes_the_grade4_part():
    rotors = torch.randn(50, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    unit = normalize_rotor(rotors)
    s, b_xy, b_xz, b_yz, b_xw, b_yw, b_zw, p = unit.unbind(-1)
    grade4 = p * s - b_xy * b_zw + b_xz * b_yw - b_xw * b_yz
    assert_close(grade4, torch.zeros(50), atol=1e-9)
    assert_close(unit.norm(dim=-1), torch.ones(50, dtype=torch.float64), atol=1e-6)
    # a rotor without time parts is already free of grade 4: normalization only rescales it
    static = rotors.clone()
    static[:, 4:] = 0
    assert_close(normalize_rotor(static), static / static.norm(dim=-1, keepdim=True), atol=1e-6)
    model = random_gaussians_4d(4, rotation="rotor")
    assert_close(model.unit_rotations, normalize_rotor(model.rotations))
