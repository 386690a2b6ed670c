"""Shared fixtures: Taichi backends, data-folder skips. Tests run on the CPU backend unless marked."""

import os
import pathlib
import shutil
import subprocess
import time

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


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(scope="session", params=["cpu", pytest.param("vulkan", marks=pytest.mark.vulkan),
                                         pytest.param("cuda", marks=pytest.mark.gpu)])
def arch(request):
    """Every Taichi backend the portability promise covers; tests are grouped per backend by pytest.
    CUDA runs only where torch sees a GPU (the lent GPU machine), and skips elsewhere."""
    if request.param == "cuda" and not _cuda_available():
        pytest.skip("no CUDA GPU here (run on the GPU machine with -m gpu)")
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


def _start_xvfb():
    """Give the viewer tests a virtual X display when there is none and Xvfb is installed (CI: xvfb)."""
    if os.environ.get("DISPLAY") or not shutil.which("Xvfb"):
        return None
    for number in range(90, 120):
        if os.path.exists(f"/tmp/.X11-unix/X{number}") or os.path.exists(f"/tmp/.X{number}-lock"):
            continue
        proc = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(50):
            if os.path.exists(f"/tmp/.X11-unix/X{number}"):
                os.environ["DISPLAY"] = f":{number}"
                return proc
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        proc.kill()
    return None


def pytest_configure(config):
    config._ngfx_xvfb = _start_xvfb()


def pytest_unconfigure(config):
    proc = getattr(config, "_ngfx_xvfb", None)
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=10)
