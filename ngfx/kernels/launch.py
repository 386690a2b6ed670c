"""Launch plans: the lean launch path every hot Taichi kernel goes through.

Why: a `@ti.kernel` call in Taichi 1.7.4 re-derives its instantiation key, re-reads the whole compile config
through pybind and re-inspects every torch tensor on every call (type lookups, `np.iinfo`, `str(device)`,
gradient checks): tens of microseconds per launch and more per tensor argument, more than the GPU work of
most splatting kernels.

A `LaunchPlan` is built once per kernel and argument specialisation (dtype, ndim and element shape of each
tensor, kind of each scalar, shape of each small matrix). Building it checks every argument against the
kernel's annotations and raises `LaunchError`, one line naming the kernel, the argument, what it needs and
what it got, for a wrong dtype, ndim, element shape, device or a non-contiguous tensor: a mistake fails
there, never as a crash inside a kernel. It then compiles the kernel through Taichi's own path once and
keeps the compiled handle and one setter per argument, so a call only writes the argument slots and
launches. `fast(kernel)` wraps a kernel: each call looks its specialisation up (a tuple of the arguments'
kinds) and runs that plan; hot code may hold a plan itself (`fast(kernel).plan(*args)`) and skip the lookup.

Devices: tensors must live where the backend reads them in place (CUDA tensors on `cuda`, CPU tensors on
`cpu`). On Vulkan, whose device memory torch cannot hand over, a plan checks the arguments the same way
and then calls the kernel through Taichi's path, which copies the tensors to the device and back.

Scope: float/int scalars, small float vectors/matrices given as numpy arrays, and torch tensors for
ndarray arguments. Templates, structs, return values and `.grad` kernels are refused (hot kernels have none;
autodiff keeps Taichi's own path through `fast(kernel).grad`). A plan never allocates `tensor.grad`
(Taichi's own path zero-fills `.grad` of every tensor that requires grad, even for kernels that never read
it).
"""

import numpy as np
import torch

from ngfx.kernels import runtime

__all__ = ["LaunchError", "LaunchPlan", "fast"]


class LaunchError(TypeError):
    """An argument that does not fit the kernel's annotation (raised when a plan is built)."""


def _torch_dtypes():
    ti = runtime.taichi()
    return {id(ti.f16): torch.float16, id(ti.f32): torch.float32, id(ti.f64): torch.float64,
            id(ti.i8): torch.int8, id(ti.i16): torch.int16, id(ti.i32): torch.int32, id(ti.i64): torch.int64,
            id(ti.u8): torch.uint8}


def _tensor_device() -> str | None:
    """The torch device type kernels read in place: 'cuda' on CUDA, 'cpu' on the CPU; None on Vulkan."""
    return {"cuda": "cuda", "cpu": "cpu"}.get(runtime.arch())


def _element(needed) -> tuple[object, tuple[int, ...]]:
    """(scalar dtype, element shape) of an ndarray annotation: (f32, (3,)) for vec3, (i32, ()) for i32."""
    from taichi.lang.matrix import MatrixType

    dtype = needed.dtype
    if isinstance(dtype, MatrixType):
        shape = (dtype.n,) if dtype.ndim == 1 else (dtype.n, dtype.m)
        return dtype.dtype, shape
    return dtype, ()


class LaunchPlan:
    """One kernel at one argument specialisation: checked and compiled once, then launched per call."""

    def __init__(self, kernel, args):
        runtime.taichi()  # the quiet import, before taichi.lang
        from taichi.lang import impl

        self.kernel, self.name = kernel, getattr(kernel, "__name__", None) or kernel._primal.func.__name__
        primal = kernel._primal
        if primal.return_type is not None:
            raise LaunchError(f"kernel '{self.name}' returns a value; hot kernels write their results to tensors")
        if len(args) != len(primal.arguments):
            raise LaunchError(f"kernel '{self.name}' takes {len(primal.arguments)} arguments, got {len(args)}")
        self.device = _tensor_device()
        self.setters = [self._setter(i, arg, value) for i, (arg, value) in enumerate(zip(primal.arguments, args))]
        self.via_taichi = self.device is None  # Vulkan: checked here, launched through Taichi's path
        if not self.via_taichi:
            key = primal.ensure_compiled(*args)
            self.t_kernel = primal.compiled_kernels[key]
            prog = impl.get_runtime().prog
            self.prog = prog
            self.compiled = prog.compile_kernel(prog.config(), prog.get_device_caps(), self.t_kernel)

    def _fail(self, arg, problem: str):
        raise LaunchError(f"kernel '{self.name}', argument '{arg.name}': {problem}")

    def _setter(self, i: int, arg, value):
        from taichi.lang.matrix import MatrixType
        from taichi.types import primitive_types
        from taichi.types.ndarray_type import NdarrayType

        needed, index = arg.annotation, (i,)
        if id(needed) in primitive_types.real_type_ids:
            if isinstance(value, torch.Tensor) or not isinstance(value, (float, int, np.floating, np.integer)):
                self._fail(arg, f"needs a float, got {type(value).__name__}")
            return lambda ctx, v: ctx.set_arg_float(index, float(v))
        if id(needed) in primitive_types.integer_type_ids:
            if isinstance(value, torch.Tensor) or not isinstance(value, (int, np.integer)):
                self._fail(arg, f"needs an int, got {type(value).__name__}")
            return lambda ctx, v: ctx.set_arg_int(index, int(v))
        if isinstance(needed, MatrixType):
            shape = (needed.n,) if needed.ndim == 1 else (needed.n, needed.m)
            if not isinstance(value, np.ndarray) or value.shape != shape or value.dtype.kind != "f":
                self._fail(arg, f"needs a float numpy array of shape {shape}, got {_describe(value)}")

            def set_matrix(ctx, v):
                for k, x in enumerate(v.ravel().tolist()):
                    ctx.set_struct_arg_float(index + (k,), x)

            return set_matrix
        if isinstance(needed, NdarrayType):
            return self._tensor_setter(arg, needed, index, value)
        self._fail(arg, f"launch plans do not take {needed} arguments (templates, structs); call the kernel")

    def _tensor_setter(self, arg, needed, index, value):
        if not isinstance(value, torch.Tensor):
            self._fail(arg, f"needs a torch tensor, got {_describe(value)}")
        scalar, element = _element(needed)
        want = _torch_dtypes().get(id(scalar))
        if want is not None and value.dtype != want:
            self._fail(arg, f"needs dtype {want}, got {value.dtype}")
        ndim = needed.ndim
        if ndim is not None and value.dim() != ndim + len(element):
            self._fail(arg, f"needs {ndim + len(element)} dimensions ({ndim} + element {element}), got shape "
                            f"{tuple(value.shape)}")
        if element and tuple(value.shape[value.dim() - len(element):]) != element:
            self._fail(arg, f"needs trailing dimensions {element}, got shape {tuple(value.shape)}")
        if not value.is_contiguous():
            self._fail(arg, "is not contiguous; pass .contiguous()")
        expected = self.device or "cpu"  # Vulkan: Taichi's path copies CPU tensors to the device
        if value.device.type != expected:
            self._fail(arg, f"is on {value.device}, but the '{runtime.arch()}' backend reads {expected} tensors")
        n_element = len(element)

        if n_element:
            def set_tensor(ctx, v):
                ctx.set_arg_external_array_with_shape(index, v.data_ptr(), v.nbytes, v.shape[:-n_element], 0)
        else:
            def set_tensor(ctx, v):
                ctx.set_arg_external_array_with_shape(index, v.data_ptr(), v.nbytes, v.shape, 0)
        return set_tensor

    def __call__(self, *args) -> None:
        if self.via_taichi:
            self.kernel(*args)
            return
        ctx = self.t_kernel.make_launch_context()
        for setter, value in zip(self.setters, args):
            setter(ctx, value)
        self.prog.launch_kernel(self.compiled, ctx)


def _describe(value) -> str:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    return type(value).__name__


def _signature(args) -> tuple:
    """What selects a plan: per tensor its dtype, shape rank, device and contiguity; per scalar its type;
    per numpy array its shape and dtype kind (values never)."""
    sig = [runtime.generation()]
    for a in args:
        if isinstance(a, torch.Tensor):
            sig.append((a.dtype, a.dim(), a.is_cuda, a.is_contiguous()))
        elif isinstance(a, np.ndarray):
            sig.append((a.shape, a.dtype.kind))
        else:
            sig.append(type(a))
    return tuple(sig)


class _FastKernel:
    """A kernel whose calls go through launch plans, one per argument specialisation (module docstring)."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.plans: dict = {}
        self.grad = kernel.grad  # autodiff keeps Taichi's path (it needs the .grad pointers)

    def plan(self, *args) -> LaunchPlan:
        """The plan for these arguments' specialisation, built (checked and compiled) on first use."""
        sig = _signature(args)
        plan = self.plans.get(sig)
        if plan is None:
            plan = self.plans[sig] = LaunchPlan(self.kernel, args)
        return plan

    def __call__(self, *args) -> None:
        self.plan(*args)(*args)


def fast(kernel) -> _FastKernel:
    """Wrap a `@ti.kernel` so that its calls go through launch plans (module docstring)."""
    return _FastKernel(kernel)
