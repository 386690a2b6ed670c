"""Spherical-harmonics colour (3D, degrees 0-3) and Yang's 4D spherindrical harmonics, with torch references."""

from ngfx.kernels.splat.sh.op import eval_sh, eval_sh_4d

__all__ = ["eval_sh", "eval_sh_4d"]
