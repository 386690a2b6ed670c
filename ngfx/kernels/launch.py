"""A lean launch path for hot Taichi kernels that take torch tensors and scalars.

Why: a `@ti.kernel` call in Taichi 1.7.4 re-derives its instantiation key, re-reads the whole compile config
and re-inspects every torch tensor on every call; measured here that is ~55 us per launch plus ~15 us per
tensor argument on CUDA, more than the GPU work of most splatting kernels. `fast(kernel)` resolves all of
that once per argument signature (through Taichi's own call path, which also compiles) and afterwards only
writes the argument slots and launches the cached compiled kernel.

Scope: positional arguments that are float/int scalars, small float vectors/matrices given as numpy arrays,
or contiguous torch tensors already on the backend's device (CUDA tensors on `cuda`, CPU tensors elsewhere except Vulkan, whose device memory torch cannot hand
over). Anything else - templates, struct or matrix arguments, `.grad` kernels, foreign devices - goes through
the ordinary Taichi call. The launcher never allocates `tensor.grad` (Taichi's own path zero-fills `.grad`
of every tensor that requires grad, even for kernels that never read it).
"""

import numpy as np
import torch

from ngfx.kernels import runtime

__all__ = ["fast"]


class _Plan:
    """Argument setters for one argument signature of one kernel, and its compiled code."""

    def __init__(self, primal, args):
        runtime.taichi()  # the quiet import, before taichi.lang
        from taichi.lang import impl
        from taichi.types import primitive_types
        from taichi.lang.matrix import MatrixType
        from taichi.types.ndarray_type import NdarrayType

        key = primal.ensure_compiled(*args)
        self.t_kernel = primal.compiled_kernels[key]
        prog = impl.get_runtime().prog
        self.prog = prog
        self.compiled = prog.compile_kernel(prog.config(), prog.get_device_caps(), self.t_kernel)
        self.setters = []
        for i, (arg, value) in enumerate(zip(primal.arguments, args)):
            needed = arg.annotation
            if id(needed) in primitive_types.real_type_ids:
                self.setters.append(("f", (i,), None))
            elif id(needed) in primitive_types.integer_type_ids:
                self.setters.append(("i", (i,), None))
            elif isinstance(needed, MatrixType) and (needed.dtype is None  # None: the default float type
                                                     or needed.dtype in primitive_types.real_types):
                self.setters.append(("m", (i,), None))  # small float vector / matrix: one slot per entry
            elif isinstance(needed, NdarrayType) and isinstance(value, torch.Tensor):
                dtype = needed.dtype
                element_dims = 0 if dtype is None or id(dtype) in primitive_types.type_ids else dtype.ndim
                self.setters.append(("t", (i,), element_dims))
            else:
                raise TypeError(f"fast launch does not handle argument {arg.name} ({needed})")

    def launch(self, args):
        ctx = self.t_kernel.make_launch_context()
        for (kind, index, element_dims), value in zip(self.setters, args):
            if kind == "t":
                shape = value.shape if not element_dims else value.shape[:-element_dims]
                ctx.set_arg_external_array_with_shape(index, value.data_ptr(), value.element_size() * value.numel(),
                                                      list(shape), 0)
            elif kind == "f":
                ctx.set_arg_float(index, float(value))
            elif kind == "m":
                for k, x in enumerate(value.ravel().tolist()):
                    ctx.set_struct_arg_float(index + (k,), x)
            else:
                ctx.set_arg_int(index, int(value))
        self.prog.launch_kernel(self.compiled, ctx)


class _FastKernel:
    def __init__(self, kernel):
        self.kernel = kernel
        self.primal = kernel._primal
        self.plans: dict = {}
        self.grad = kernel.grad  # autodiff keeps Taichi's path (it needs the .grad pointers)

    def _signature(self, args):
        sig, device = [], _tensor_device()
        for a in args:
            if isinstance(a, torch.Tensor):
                if not a.is_contiguous() or a.device.type != device:
                    return None
                sig.append((a.dtype, a.dim()))
            elif isinstance(a, (bool, int, float)):
                sig.append(type(a))
            elif isinstance(a, np.ndarray) and a.dtype.kind == "f":
                sig.append(a.shape)
            else:
                return None
        return (runtime.generation(), *sig)

    def __call__(self, *args):
        sig = self._signature(args)
        if sig is None:
            return self.kernel(*args)
        plan = self.plans.get(sig)
        if plan is None:
            try:
                plan = _Plan(self.primal, args)
            except TypeError:
                plan = False
            self.plans[sig] = plan
        if plan is False:
            return self.kernel(*args)
        plan.launch(args)
        return None


def _tensor_device() -> str | None:
    """The torch device type kernels may read in place: 'cuda' on CUDA, 'cpu' on the CPU; None on Vulkan."""
    arch = runtime.arch()
    return {"cuda": "cuda", "cpu": "cpu"}.get(arch)


def fast(kernel):
    """Wrap a `@ti.kernel` so repeated calls with the same argument kinds skip Taichi's per-call overhead."""
    return _FastKernel(kernel)
