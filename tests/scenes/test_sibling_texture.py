"""An OBJ with UVs but no material file picks up `<stem>_texture.png` beside it (as Keenan Crane's spot ships)."""

import imageio.v3 as iio
import numpy as np
import pytest

from ngfx.scenes.mesh_io import load_mesh

OBJ = "v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nf 1/1 2/2 3/3\n"


@pytest.mark.parametrize("obj_name, texture_name", [("cow.obj", "cow_texture.png"),
                                                    ("cow_triangulated.obj", "cow_texture.png")])
def test_sibling_texture_is_used_with_a_warning(tmp_path, obj_name, texture_name):
    (tmp_path / obj_name).write_text(OBJ)
    image = np.zeros((4, 6, 3), np.uint8)
    image[0] = 255  # top row white: texture row 0 must stay the image's top row
    iio.imwrite(tmp_path / texture_name, image)
    with pytest.warns(UserWarning, match=texture_name):
        mesh = load_mesh(tmp_path / obj_name)
    assert mesh.material.texture.shape == (4, 6, 3)
    assert mesh.material.texture[0].min() == 1.0 and mesh.material.texture[1:].max() == 0.0


def test_no_sibling_texture_means_no_texture(tmp_path):
    (tmp_path / "plain.obj").write_text(OBJ)
    assert load_mesh(tmp_path / "plain.obj").material.texture is None
