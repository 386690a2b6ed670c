"""Taichi runtime: lazy backend choice, initialisation and dtype maps. Never runs at import.

Backend order when nothing is requested: CUDA (when torch and Taichi both see a GPU), then a hardware
Vulkan device (AMD, Intel, Apple through MoltenVK), then the CPU. A software Vulkan driver (Mesa's
lavapipe, SwiftShader) is CPU-class and is only used when asked for (`--arch vulkan`, `NGFX_ARCH=vulkan`).
Kernels are compiled once and kept in Taichi's offline cache under ~/.cache/ngfx/taichi.
"""

import contextlib
import glob
import io
import json
import os
import subprocess
import sys
import time

import torch

from ngfx.errors import InputError

__all__ = ["ARCHS", "init", "ensure_init", "arch", "device", "generation", "choose_arch", "available_archs",
           "ti_dtype", "taichi", "hardware_vulkan_icds", "why_not_chosen"]

ARCHS = ("cuda", "vulkan", "cpu")
_SOFTWARE_VULKAN = ("lvp", "lavapipe", "swiftshader", "llvmpipe")
_state = {"arch": None, "generation": 0, "init_s": None}


def taichi():
    """Import taichi quietly (its banner goes only to --verbose runs)."""
    os.environ.setdefault("ENABLE_TAICHI_HEADER_PRINT", "False")
    import taichi as ti

    return ti


def hardware_vulkan_icds() -> list[str]:
    """Vulkan driver manifests on this machine that are not software rasterisers."""
    env = os.environ.get("VK_DRIVER_FILES") or os.environ.get("VK_ICD_FILENAMES")
    if env:
        files = env.split(os.pathsep)
    else:
        dirs = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d",
                os.path.expanduser("~/.local/share/vulkan/icd.d")]
        files = [f for d in dirs for f in glob.glob(os.path.join(d, "*.json"))]
    return [f for f in files if not any(s in os.path.basename(f).lower() for s in _SOFTWARE_VULKAN)]


def _probe(arch_name: str, vulkan_icds: list[str] | None = None) -> bool:
    """Whether Taichi starts on `arch_name`, tried in a child process so a failing driver cannot hurt us.
    `vulkan_icds` limits the Vulkan loader to those driver manifests (so a software fallback cannot pass)."""
    code = ("import os,sys;os.environ['ENABLE_TAICHI_HEADER_PRINT']='False';import taichi as ti;"
            f"ti.init(arch=ti.{arch_name},log_level=ti.ERROR);"
            "a=ti.lang.impl.current_cfg().arch;"
            f"sys.exit(0 if a.name==({arch_name!r} if {arch_name!r}!='cpu' else 'x64') else 1)")
    try:
        env = dict(os.environ)
        if vulkan_icds:
            env["VK_DRIVER_FILES"] = env["VK_ICD_FILENAMES"] = os.pathsep.join(vulkan_icds)
        return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120,
                              env=env).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def available_archs() -> dict[str, bool]:
    """Every backend and whether Taichi starts on it here (slow: one child process each)."""
    return {name: _probe(name) for name in ARCHS}


def choose_arch() -> str:
    """NGFX_ARCH if set, else CUDA, then hardware Vulkan, then CPU (see the module docstring)."""
    requested = os.environ.get("NGFX_ARCH")
    if requested:
        return _check_name(requested, "NGFX_ARCH")
    ti = taichi()
    if torch.cuda.is_available() and ti._lib.core.with_cuda():
        return "cuda"
    hardware = hardware_vulkan_icds()
    # Mesa installs Intel/AMD manifests on machines without those GPUs, and the loader then falls back to
    # lavapipe: probe with the hardware manifests alone, and keep the loader on them when one works.
    if hardware and _probe("vulkan", hardware):
        os.environ["VK_DRIVER_FILES"] = os.environ["VK_ICD_FILENAMES"] = os.pathsep.join(hardware)
        return "vulkan"
    return "cpu"


def why_not_chosen(backends: dict[str, bool], chosen: str) -> dict[str, str]:
    """For each backend that starts here but is not `chosen` (from `available_archs`), why choose_arch
    passed it over, in words for `ngfx info`."""
    requested = os.environ.get("NGFX_ARCH")
    reasons = {}
    for name in (n for n, works in backends.items() if works and n != chosen):
        if requested:
            reasons[name] = f"NGFX_ARCH={requested} asks for {chosen}"
        elif name == "cuda":
            reasons[name] = ("torch sees no CUDA GPU (a CPU build of torch?), and kernels share torch's tensors"
                             if not torch.cuda.is_available() else "Taichi was built without CUDA")
        elif name == "vulkan" and chosen == "cuda":
            reasons[name] = "CUDA comes first"
        elif name == "vulkan":
            hardware = [os.path.basename(f) for f in hardware_vulkan_icds()]
            reasons[name] = ("the only Vulkan driver that starts here is a software one (Mesa's lavapipe or "
                             "SwiftShader), which runs on the CPU too: ngfx uses it only when asked (--arch vulkan)")
            if hardware:
                reasons[name] += f"; the hardware drivers installed ({', '.join(hardware)}) found no device"
        elif name == "cpu":
            reasons[name] = f"{chosen} comes first"
    return reasons


def _check_name(name: str, where: str) -> str:
    name = name.lower()
    if name not in ARCHS:
        raise InputError(f"unknown backend '{name}'", field=where, fix=f"use one of {', '.join(ARCHS)}")
    return name


def init(arch_name: str | None = None, *, debug: bool = False, offline_cache: bool = True,
         verbose: bool = False) -> str:
    """(Re)initialise Taichi on `arch_name` (None: choose_arch()). Returns the backend actually used."""
    ti = taichi()
    name = _check_name(arch_name, "--arch") if arch_name else choose_arch()
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "ngfx", "taichi")
    t0 = time.perf_counter()
    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with quiet:  # ti.init prints "[Taichi] Starting on arch=..." unconditionally
        ti.init(arch=getattr(ti, name), debug=debug, offline_cache=offline_cache, offline_cache_file_path=cache,
                log_level=ti.INFO if verbose else ti.WARN, default_fp=ti.f32, default_ip=ti.i32)
    got = ti.lang.impl.current_cfg().arch.name
    got = "cpu" if got in ("x64", "arm64") else got
    if got != name:
        raise InputError(f"backend '{name}' is not available on this machine (Taichi fell back to {got})",
                         field="--arch", fix="run `ngfx info` to see which backends work")
    _state.update(arch=name, generation=_state["generation"] + 1, init_s=time.perf_counter() - t0)
    return name


def ensure_init() -> str:
    """Initialise on first use; later calls are free."""
    return _state["arch"] or init()


def arch() -> str | None:
    """The backend in use, or None before initialisation."""
    return _state["arch"]


def generation() -> int:
    """Bumped at every init; kernel factories key their caches on it so a re-init recompiles."""
    return _state["generation"]


def device() -> torch.device:
    """The torch device whose tensors kernels read without copies on this backend."""
    return torch.device("cuda") if ensure_init() == "cuda" else torch.device("cpu")


def ti_dtype(dtype: torch.dtype):
    """Taichi scalar type for a torch float dtype."""
    ti = taichi()
    return {torch.float32: ti.f32, torch.float64: ti.f64}[dtype]


def describe() -> dict:
    """A JSON-friendly summary of the runtime (for `ngfx info` and benchmark records)."""
    info = {"arch": _state["arch"], "init_s": _state["init_s"]}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return json.loads(json.dumps(info))
