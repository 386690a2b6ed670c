"""Shared fixtures: Taichi backends, data-folder skips. Tests run on the CPU backend unless marked."""

import os
import pathlib

import pytest

os.environ.setdefault("NGFX_ARCH", "cpu")  # render-level tests never pick a GPU by surprise

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"


def vulkan_available() -> bool:
    """True when Taichi starts on Vulkan here (in CI: Mesa's lavapipe); probed once in a child process."""
    from ngfx.kernels import runtime

    if not hasattr(vulkan_available, "_cached"):
        vulkan_available._cached = runtime._probe("vulkan")
    return vulkan_available._cached


def use_arch(name: str) -> str:
    """Switch Taichi to backend `name` unless it is already running there; skip if Vulkan is missing."""
    from ngfx.kernels import runtime

    if name == "vulkan" and not vulkan_available():
        if os.environ.get("CI"):
            pytest.fail("Vulkan must be available in CI (apt: libvulkan1 mesa-vulkan-drivers)")
        pytest.skip("Taichi cannot start on Vulkan here (install libvulkan1 and mesa-vulkan-drivers)")
    if runtime.arch() != name:
        runtime.init(name)
    return name


@pytest.fixture(scope="session", params=["cpu", pytest.param("vulkan", marks=pytest.mark.vulkan)])
def arch(request):
    """Every Taichi backend the portability promise covers; tests are grouped per backend by pytest."""
    return use_arch(request.param)


@pytest.fixture
def cpu_arch():
    """The CPU backend, for tests that are not about portability."""
    return use_arch("cpu")


@pytest.fixture
def shared_data():
    """../shared/data, or a clean skip when this checkout has none beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it lives beside the project, never in it)")
    return SHARED_DATA
