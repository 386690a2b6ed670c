"""Dense volumes for neural-volume fitting: the procedural cloud and .npy loading with its errors."""

import numpy as np
import pytest

from ngfx.errors import InputError
from ngfx.fields.volume_data import load_volume, procedural_cloud


def test_cloud_has_structure_and_empty_space():
    cloud = procedural_cloud(32, seed=1)
    d = cloud.density
    assert d.shape == (32, 32, 32) and d.dtype == np.float32 and d.min() >= 0
    empty = (d == 0).mean()
    assert 0.5 < empty < 0.995, empty  # mostly empty around it, but not nothing
    assert d.max() > 5 and d[0].max() == 0 and d[:, :, -1].max() == 0  # dense inside, empty at the faces
    assert np.array_equal(d, procedural_cloud(32, seed=1).density)
    assert not np.array_equal(d, procedural_cloud(32, seed=2).density)
    coloured = procedural_cloud(16, seed=0, coloured=True)
    assert coloured.albedo.shape == (16, 16, 16, 3) and 0 <= coloured.albedo.min() <= coloured.albedo.max() <= 1


def test_sample_is_trilinear_at_voxel_centres():
    cloud = procedural_cloud(8, seed=3)
    k, j, i = 5, 2, 6
    centre = np.array([[(i + 0.5) / 8, (j + 0.5) / 8, (k + 0.5) / 8]])
    assert np.isclose(cloud.sample(centre)[0], cloud.density[k, j, i])
    grid = np.zeros((2, 2, 2), np.float32)
    grid[0, 0, 1] = 1.0  # x = 1 voxel
    vol = type(cloud)(grid)
    assert np.isclose(vol.sample(np.array([[0.5, 0.25, 0.25]]))[0], 0.5)  # halfway between x voxels


def test_load_npy_and_bad_files(tmp_path):
    good = tmp_path / "v.npy"
    data = np.random.default_rng(0).random((4, 5, 6, 4)).astype(np.float32)
    np.save(good, data)
    vol = load_volume(good)
    assert vol.shape == (4, 5, 6) and np.array_equal(vol.density, data[..., 0]) and vol.albedo.shape == (4, 5, 6, 3)
    for name, array, needle in (("flat.npy", np.zeros((4, 4)), "shape"), ("nan.npy", np.full((3, 3, 3), np.nan), "NaN"),
                                ("neg.npy", -np.ones((3, 3, 3)), "negative")):
        np.save(tmp_path / name, array)
        with pytest.raises(InputError, match=needle) as err:
            load_volume(tmp_path / name)
        assert name in str(err.value)
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    with pytest.raises(InputError, match="junk.npy"):
        load_volume(tmp_path / "junk.npy")
    with pytest.raises(InputError, match="unsupported"):
        load_volume(tmp_path / "v.vdb")
