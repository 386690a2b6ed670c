"""The fused encoding + MLP inference against the separate torch references (encode, then MLP)."""

import pytest
import torch

from ngfx.kernels import runtime
from ngfx.kernels.encodings import HashGridConfig
from ngfx.kernels.networks import MLPConfig
from ngfx.kernels.networks.field import infer_field, render_field_image
from ngfx.kernels.networks.field import reference as ref
from tests.helpers import assert_close

# a few dense and a few hashed levels (T = 2^8), so both index paths run
GRID2 = HashGridConfig(n_dims=2, n_levels=4, n_features=2, log2_table_size=8, base_resolution=4,
                       finest_resolution=40)
GRID3 = HashGridConfig(n_dims=3, n_levels=3, n_features=4, log2_table_size=9, base_resolution=3,
                       finest_resolution=24)


def weights(grid, mlp, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    table = (torch.rand((grid.n_entries, grid.n_features), generator=g, dtype=torch.float64) * 2 - 1)
    params = torch.randn(mlp.n_params, generator=g, dtype=torch.float64) * 0.4
    return table.to(dtype), params.to(dtype)


@pytest.mark.parametrize("seed", [0, 1])
def test_infer_matches_reference_3d(cpu_arch, seed):
    mlp = MLPConfig(n_inputs=GRID3.n_outputs, n_outputs=5, width=16, n_hidden_layers=2, output_activation="softplus")
    table, params = weights(GRID3, mlp, seed)
    points = torch.rand((300, 3), generator=torch.Generator().manual_seed(10 + seed), dtype=torch.float64)
    points[:5] = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [1.2, -0.1, 0.5], [0.999, 0.5, 0.0],
                               [0.5, 0.5, 0.5]], dtype=torch.float64)  # corners, clamped, upper edge
    got, want = infer_field(points, table, GRID3, params, mlp), ref.infer_field(points, table, GRID3, params, mlp)
    assert_close(got, want, rtol=1e-10, atol=1e-12, msg=f"seed {seed}")
    assert float(want.std(0).min()) > 1e-3, "outputs do not vary across points"


@pytest.mark.parametrize("activation", ["sigmoid", "none"])
def test_image_raster_matches_reference(cpu_arch, activation):
    mlp = MLPConfig(n_inputs=GRID2.n_outputs, n_outputs=3, width=32, n_hidden_layers=1,
                    output_activation=activation)
    table, params = weights(GRID2, mlp, 3)
    for region, (w, h) in (((0.0, 0.0, 1.0, 1.0), (17, 9)), ((-0.2, 0.3, 0.6, 1.4), (8, 13))):
        got = render_field_image(table, params, GRID2, mlp, region, w, h)
        want = ref.render_field_image(table, params, GRID2, mlp, region, w, h)
        assert got.shape == (h, w, 3)
        assert_close(got, want, rtol=1e-10, atol=1e-12, msg=f"{activation} {region}")
        assert float(want.std()) > 1e-3, "an empty or flat image"


def test_pixel_uv_are_pixel_centres():
    uv = ref.pixel_uv((0.0, 0.0, 1.0, 1.0), 4, 2, dtype=torch.float64).reshape(2, 4, 2)
    assert torch.allclose(uv[0, 0], torch.tensor([0.125, 0.25], dtype=torch.float64))
    assert torch.allclose(uv[1, 3], torch.tensor([0.875, 0.75], dtype=torch.float64))


def test_float16_and_float32_close_to_float64(cpu_arch):
    mlp = MLPConfig(n_inputs=GRID2.n_outputs, n_outputs=3, width=16, n_hidden_layers=2, output_activation="sigmoid")
    table, params = weights(GRID2, mlp, 4)
    want = ref.render_field_image(table, params, GRID2, mlp, (0, 0, 1, 1), 12, 10)
    for dtype, tol in ((torch.float32, 1e-5), (torch.float16, 5e-3)):
        got = render_field_image(table.to(dtype), params.to(dtype), GRID2, mlp, (0, 0, 1, 1), 12, 10)
        assert got.dtype == torch.float32
        assert_close(got.double(), want, rtol=0, atol=tol, msg=str(dtype))
        # the separate float16 MLP rounds its outputs to float16 (one ulp: 4.9e-4 at 0.5-1); the fused op keeps f32
        same = ref.render_field_image(table.to(dtype), params.to(dtype), GRID2, mlp, (0, 0, 1, 1), 12, 10)
        assert_close(got, same, rtol=0, atol=1e-5 if dtype == torch.float32 else 5e-4, msg=f"{dtype} vs own ref")


def test_bad_input(cpu_arch):
    mlp = MLPConfig(n_inputs=GRID2.n_outputs, n_outputs=3)
    table, params = weights(GRID2, mlp, 5)
    with pytest.raises(ValueError, match="inputs"):
        infer_field(torch.rand(4, 2, dtype=torch.float64), table, GRID2, params,
                    MLPConfig(n_inputs=7, n_outputs=3))
    with pytest.raises(ValueError, match="points"):
        infer_field(torch.rand(4, 3, dtype=torch.float64), table, GRID2, params, mlp)
    with pytest.raises(ValueError, match="2D grid"):
        render_field_image(*weights(GRID3, MLPConfig(n_inputs=GRID3.n_outputs, n_outputs=3), 0), GRID3,
                           MLPConfig(n_inputs=GRID3.n_outputs, n_outputs=3), (0, 0, 1, 1), 4, 4)
    with pytest.raises(ValueError, match="float64"):
        render_field_image(table, params.float(), GRID2, mlp, (0, 0, 1, 1), 4, 4)


def test_image_on_every_backend(arch):
    mlp = MLPConfig(n_inputs=GRID2.n_outputs, n_outputs=3, width=16, n_hidden_layers=1, output_activation="sigmoid")
    table, params = weights(GRID2, mlp, 6, torch.float32)
    dev = runtime.device()
    got = render_field_image(table.to(dev), params.to(dev), GRID2, mlp, (0.1, 0.0, 0.9, 1.0), 20, 14).cpu()
    want = ref.render_field_image(table.double(), params.double(), GRID2, mlp, (0.1, 0.0, 0.9, 1.0), 20, 14)
    assert_close(got.double(), want, rtol=0, atol=2e-5, msg=arch)
