"""`ngfx info`: versions, the Taichi backends that work here and the one ngfx picks, and the GPU."""

import json
import platform

__all__ = ["add_arguments", "main"]


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def collect() -> dict:
    """Everything `ngfx info` reports, as a dict."""
    import numpy
    import torch

    from ngfx import __version__
    from ngfx.kernels import runtime

    ti = runtime.taichi()
    backends = runtime.available_archs()
    chosen = runtime.choose_arch()
    info = {"ngfx": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "taichi": ".".join(str(v) for v in ti.__version__), "numpy": numpy.__version__,
            "backends": backends, "chosen": chosen, "not_chosen": runtime.why_not_chosen(backends, chosen),
            "hardware_vulkan_drivers": runtime.hardware_vulkan_icds(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    return info


def main(args) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    works = [name for name, ok in info["backends"].items() if ok]
    print(f"ngfx {info['ngfx']}  python {info['python']}  torch {info['torch']}  taichi {info['taichi']}  "
          f"numpy {info['numpy']}")
    print(f"Taichi backends that start here: {', '.join(works) or 'none'}")
    print(f"backend ngfx picks: {info['chosen']}  (override with --arch or NGFX_ARCH)")
    for name, reason in info["not_chosen"].items():
        print(f"  not {name}: {reason}")
    print(f"GPU: {info['gpu'] or 'none visible to torch'}")
    return 0
