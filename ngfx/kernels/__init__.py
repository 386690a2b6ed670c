"""Taichi kernels, each with a pure-torch reference of the same signature.

The only ngfx package that imports taichi; it imports nothing else from ngfx but `ngfx.errors`.
Nothing here initialises Taichi at import: call `runtime.ensure_init()` (the ops do it for you).
"""

__all__ = ["runtime"]
