"""Importing ngfx does no work: every module imports without starting Taichi, open3d or a window, and every
name in an `__all__` exists."""

import json
import subprocess
import sys

CHECK = """
import importlib, json, pkgutil, sys
import ngfx
missing, names = [], []
for info in pkgutil.walk_packages(ngfx.__path__, "ngfx."):
    module = importlib.import_module(info.name)
    names.append(info.name)
    missing += [f"{info.name}.{n}" for n in getattr(module, "__all__", []) if not hasattr(module, n)]
heavy = [m for m in ("taichi", "open3d", "pyglet", "imageio") if m in sys.modules]
from ngfx.kernels import runtime
print(json.dumps({"modules": names, "missing": missing, "heavy": heavy, "arch": runtime.arch()}))
"""


def test_imports_are_free_of_side_effects_and_all_is_accurate():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(report["modules"]) > 30, report["modules"]
    assert report["missing"] == [], report["missing"]
    assert report["heavy"] == [], f"imported at module import time: {report['heavy']}"
    assert report["arch"] is None, "Taichi was initialised at import"
