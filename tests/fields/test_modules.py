"""HashGrid, FusedMLP and NeuralField: shapes, init, gradients to both parameters, checkpoint round trip,
fp16 compute close to fp32, config mismatch errors, and the Taichi ops matching the torch twins."""

import pytest
import torch

from ngfx.errors import InputError
from ngfx.fields import FusedMLP, HashGrid, NeuralField
from ngfx.kernels.encodings.hashgrid.config import HashGridConfig
from ngfx.kernels.networks.mlp.config import MLPConfig
from ngfx.train.checkpoint import load_checkpoint, save_checkpoint
from ngfx.train.sparse_adam import SparseAdam
from tests.helpers import assert_close

# level 0 dense (16^2 rows), the finer ones hashed into 2^8 rows: both index paths are exercised
GRID = HashGridConfig(n_dims=2, n_levels=4, n_features=2, log2_table_size=8, base_resolution=16,
                      finest_resolution=64)
MLP = MLPConfig(n_inputs=8, n_outputs=3, width=16, n_hidden_layers=2, output_activation="sigmoid")


def _points(n: int, seed: int, dims: int = 2) -> torch.Tensor:
    return torch.rand(n, dims, generator=torch.Generator().manual_seed(seed))


def _field(seed=0, dtype="float32", ops="reference", mlp=MLP) -> NeuralField:
    return NeuralField(GRID, mlp, dtype=dtype, seed=seed, ops=ops, device="cpu")


def test_shapes_and_table_init():
    grid, mlp, field = HashGrid(GRID, seed=3, ops="reference"), FusedMLP(MLP, seed=3, ops="reference"), _field()
    x = _points(50, 0)
    assert grid(x).shape == (50, 8) and grid(x).dtype == torch.float32
    assert mlp(torch.randn(50, 8)).shape == (50, 3)
    assert field(x).shape == (50, 3) and field(x).dtype == torch.float32
    table = grid.table
    assert table.dtype == torch.float32 and table.shape == (GRID.n_entries, 2) and table.requires_grad
    assert table.abs().max() <= 1e-4 and table.std() > 4e-5, "U(-1e-4, 1e-4)"
    assert torch.equal(HashGrid(GRID, seed=3).table, table), "same seed, same table"
    assert not torch.equal(HashGrid(GRID, seed=4).table, table)
    assert mlp.params.shape == (MLP.n_params,) and mlp.weight(2).shape == (3, 16)
    assert torch.equal(field.mlp.params, FusedMLP(MLP, seed=1).params), "the MLP is drawn from seed + 1"


def test_mlp_init_keeps_the_activation_scale_through_relu_layers():
    cfg = MLPConfig(n_inputs=32, n_outputs=128, width=128, n_hidden_layers=8)
    mlp = FusedMLP(cfg, seed=0)
    x = torch.randn(4096, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        z = x @ mlp.weight(0).T
        stds = [float(z.std())]
        for layer in range(1, cfg.n_layers):
            z = torch.relu(z) @ mlp.weight(layer).T
            stds.append(float(z.std()))
    # every pre-activation keeps the input's unit scale (a 1/sqrt(n_in) bound would halve it per layer)
    assert all(0.7 < s < 1.4 for s in stds), stds


def test_gradients_reach_both_parameters_and_only_looked_up_rows():
    field = _field(seed=1)
    x = _points(5, 1)
    out = field(x)
    g = torch.randn_like(out, generator=torch.Generator().manual_seed(2))
    (out * g).sum().backward()
    table_grad, mlp_grad = field.grid.table.grad, field.mlp.params.grad
    assert table_grad is not None and mlp_grad is not None
    assert mlp_grad.abs().max() > 0
    touched = (table_grad != 0).any(1)
    # 5 points x 4 levels x 4 corners touch at most 80 of the rows, and at least one per level
    assert 4 <= int(touched.sum()) <= 80 < GRID.n_entries, int(touched.sum())


def test_param_groups_drive_sparse_adam():
    field = _field(seed=2)
    groups = field.param_groups()
    assert [(g["name"], g["sparse"]) for g in groups] == [("table", True), ("mlp", False)]
    opt = SparseAdam([groups[0], {**groups[1], "weight_decay": 1e-6}])
    before = field.grid.table.detach().clone()
    field(_points(4, 3)).square().sum().backward()
    untouched = (field.grid.table.grad == 0).all(1)
    opt.step()
    assert torch.equal(field.grid.table.detach()[untouched], before[untouched])
    assert not torch.equal(field.grid.table.detach()[~untouched], before[~untouched])


def test_checkpoint_round_trip(tmp_path):
    field = _field(seed=4)
    with torch.no_grad():
        field.grid.table.uniform_(-1, 1, generator=torch.Generator().manual_seed(5))
    save_checkpoint(tmp_path / "f.pt", {"model": field.saved_state()})
    saved = load_checkpoint(tmp_path / "f.pt")["model"]  # torch.load(weights_only=True)
    loaded = NeuralField.from_saved_state(saved, device="cpu", ops="reference")
    assert loaded.config_dict() == field.config_dict() and loaded.dtype == "float32"
    x = _points(64, 6)
    assert torch.equal(loaded(x), field(x))
    again = NeuralField.from_config_dict(field.config_dict(), device="cpu", ops="reference")
    assert again.grid.table.abs().max() == 0, "from_config_dict builds zero parameters to load into"


def test_fp16_compute_is_close_to_fp32():
    fields = {dtype: _field(seed=7, dtype=dtype, mlp=MLPConfig(n_inputs=8, n_outputs=3, width=16))
              for dtype in ("float32", "float16")}
    for f in fields.values():  # a table of trained-like magnitude, identical masters
        with torch.no_grad():
            f.grid.table.uniform_(-1, 1, generator=torch.Generator().manual_seed(8))
    assert fields["float16"].grid.table.dtype == torch.float32, "fp32 master"
    x = _points(200, 9)
    full, half = (fields[d](x) for d in ("float32", "float16"))
    assert half.dtype == torch.float32 and full.abs().max() > 0.1, "non-degenerate outputs"
    assert_close(half, full, rtol=2e-2, atol=2e-2, msg="fp16 vs fp32 field")
    half.sum().backward()
    half_field = fields["float16"]
    assert half_field.grid.table.grad.dtype == torch.float32 and half_field.mlp.params.grad.abs().max() > 0


def test_config_mismatches_are_clear_errors():
    with pytest.raises(ValueError, match=r"MLP takes 6 inputs but the hash grid gives 8 .*n_inputs=8"):
        NeuralField(GRID, MLPConfig(n_inputs=6, n_outputs=3), ops="reference", device="cpu")
    with pytest.raises(ValueError, match="dtype must be one of"):
        HashGrid(GRID, dtype="bfloat16")
    with pytest.raises(ValueError, match=r"points must be \[N, 2\]"):
        HashGrid(GRID, ops="reference")(torch.rand(4, 3))
    good = _field().config_dict()
    with pytest.raises(InputError, match="is not a neural-field config"):
        NeuralField.from_config_dict({**good, "format": "other"})
    bad_grid = {**good, "grid": {**good["grid"], "n_levels": 0}}
    with pytest.raises(InputError, match=r"ck\.pt: field 'field\.grid': HashGridConfig: n_levels must be"):
        NeuralField.from_config_dict(bad_grid, file="ck.pt", ops="reference", device="cpu")
    bad_mlp = {**good, "mlp": {**good["mlp"], "n_inputs": 6}}
    with pytest.raises(InputError, match="MLP takes 6 inputs"):
        NeuralField.from_config_dict(bad_mlp, ops="reference", device="cpu")
    with pytest.raises(InputError, match=r"field 'field\.mlp\.widht': unknown field .*did you mean 'width'"):
        NeuralField.from_config_dict({**good, "mlp": {**good["mlp"], "widht": 64}}, ops="reference")
    saved = _field().saved_state()
    saved["params"]["grid.table"] = saved["params"]["grid.table"][:10]
    with pytest.raises(InputError, match="parameters .* do not fit its config"):
        NeuralField.from_saved_state(saved, ops="reference", device="cpu")


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_taichi_ops_match_the_torch_twins(cpu_arch, dtype):
    kernels, reference = _field(seed=10, dtype=dtype, ops="kernels"), _field(seed=10, dtype=dtype)
    for f in (kernels, reference):
        with torch.no_grad():
            f.grid.table.uniform_(-1, 1, generator=torch.Generator().manual_seed(11))
    x = _points(300, 12)
    out_k, out_r = kernels(x), reference(x)
    tol = 1e-5 if dtype == "float32" else 1e-2
    assert_close(out_k, out_r, rtol=tol, atol=tol, msg=f"forward {dtype}")
    g = torch.randn_like(out_r, generator=torch.Generator().manual_seed(13))
    grads_k = torch.autograd.grad((out_k * g).sum(), [kernels.grid.table, kernels.mlp.params])
    grads_r = torch.autograd.grad((out_r * g).sum(), [reference.grid.table, reference.mlp.params])
    for name, a, b in zip(("table", "mlp"), grads_k, grads_r):
        assert b.abs().max() > 0, f"{name}: non-degenerate gradient"
        assert_close(a, b, rtol=tol * 10, atol=tol * b.abs().max().item(), msg=f"{name} gradient {dtype}")
