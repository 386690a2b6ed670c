"""Launch plans give the same results as Taichi's own call, take tensors that require grad without
allocating their .grad, and pass small matrices (tests/kernels/test_launch_plans.py: every hot kernel,
and the build-time errors)."""

import functools

import torch

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast


@functools.cache
def _kernel(generation: int):
    ti = runtime.taichi()

    @ti.kernel
    def axpy(out: ti.types.ndarray(ti.f32, ndim=1),  # [n]
             xyz: ti.types.ndarray(ti.math.vec3, ndim=1),  # [n, 3]
             a: ti.f32, n: ti.i32):
        for i in range(n):
            out[i] = a * xyz[i][1] + out[i]

    return axpy


def test_fast_launch_matches_taichi(cpu_arch):
    kernel = _kernel(runtime.generation())
    launcher = fast(kernel)
    xyz = torch.arange(30.0).reshape(10, 3)
    expect, got = torch.ones(10), torch.ones(10)
    for _ in range(3):  # the first call builds the plan, later ones reuse it
        kernel(expect, xyz, 2.0, 7)
        launcher(got, xyz, 2.0, 7)
    assert torch.equal(got, expect) and got[:7].ne(1).all() and got[7:].eq(1).all()
    strided = torch.arange(60.0).reshape(10, 6)[:, ::2]  # made contiguous: plans refuse strided tensors
    launcher(got, strided.contiguous(), 1.0, 10)
    kernel(expect, strided.contiguous(), 1.0, 10)
    assert torch.equal(got, expect)
    assert len(launcher.plans) == 1


def test_fast_launch_leaves_grad_alone(cpu_arch):
    launcher = fast(_kernel(runtime.generation()))
    xyz = torch.rand(4, 3, requires_grad=True)
    out = torch.zeros(4)
    launcher(out, xyz.detach(), 1.0, 4)
    launcher(out, xyz, 1.0, 4)
    assert xyz.grad is None
    assert torch.allclose(out, 2 * xyz.detach()[:, 1])


@functools.cache
def _matrix_kernel(generation: int):
    ti = runtime.taichi()

    @ti.kernel
    def affine(out: ti.types.ndarray(ti.math.vec3, ndim=1), R: ti.types.matrix(3, 3, ti.f32), t: ti.math.vec3):
        for i in range(out.shape[0]):
            out[i] = R @ out[i] + t

    return affine


def test_fast_launch_matrix_arguments(cpu_arch):
    import numpy as np

    kernel = _matrix_kernel(runtime.generation())
    launcher = fast(kernel)
    R = np.arange(9.0).reshape(3, 3)
    t = np.array([1.0, -2.0, 0.5])
    x = torch.rand(5, 3)
    expect, got = x.clone(), x.clone()
    kernel(expect, R, t)
    launcher(got, R, t)
    launcher.plans.clear()
    launcher(got, R, t)  # the plan is built again, and launches
    kernel(expect, R, t)
    assert len(launcher.plans) == 1 and launcher.plans[next(iter(launcher.plans))] is not False
    assert torch.allclose(got, expect) and not torch.allclose(got, x)
