"""Neural-SDF kernels: the NeuS opacity of ray sections (neus/) and sphere tracing of a hash-grid SDF (trace/),
each with a pure-torch reference of the same signature."""

from ngfx.kernels.sdf.neus import neus_alpha
from ngfx.kernels.sdf.trace import TraceOutput, sphere_trace

__all__ = ["TraceOutput", "neus_alpha", "sphere_trace"]
