"""Sphere tracing of a neural SDF (hash grid + fused MLP, output 0 in world units) in one launch, with its torch
twin."""

from ngfx.kernels.sdf.trace.op import sphere_trace
from ngfx.kernels.sdf.trace.outputs import TraceOutput

__all__ = ["TraceOutput", "sphere_trace"]
