"""4D (xyzt) Gaussian slicing at a time t (Yang's two quaternions, Duan's rotors); imports no taichi.

`slice_gaussians_4d` is the Taichi op; `reference` holds its pure-torch twin and the rotation helpers
(`rotation_matrix_4d`, `quat_to_rotor`, `quat_to_dualquat`); `kernels.make_slice_funcs` exposes the
per-Gaussian @ti.funcs for fused kernels.
"""

from ngfx.kernels.splat.slice4d.op import ROTATIONS, Slice, slice_gaussians_4d
from ngfx.kernels.splat.slice4d.reference import quat_to_dualquat, quat_to_rotor, rotation_matrix_4d

__all__ = ["ROTATIONS", "Slice", "quat_to_dualquat", "quat_to_rotor", "rotation_matrix_4d", "slice_gaussians_4d"]
