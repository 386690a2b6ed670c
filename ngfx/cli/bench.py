"""`ngfx bench SUITE`: time a suite, print a table, write JSON (card, sizes, commit, medians).

Timing follows the house method: warm-up first, device synchronisation around each timed region,
medians over many repeats; numbers are only what this run measured.
"""

import datetime
import importlib
import json
import os
import platform
import subprocess

from ngfx.atomic import check_output_folder, write_atomic
from ngfx.cli.runtime_flags import start_runtime

__all__ = ["add_arguments", "main", "SUITES", "median_ms", "write_json_atomic"]

SUITES = {"raster": "ngfx.cli.bench_raster", "splat": "ngfx.cli.bench_splat", "train": "ngfx.cli.bench_train",
          "fields": "ngfx.cli.bench_fields"}


def add_arguments(parser) -> None:
    parser.add_argument("suite", choices=sorted(SUITES), help="which benchmark")
    parser.add_argument("--out", default=None, help="JSON output path (default: bench-out/<suite>.json)")
    parser.add_argument("--repeats", type=int, default=50, help="timed repetitions per case")
    parser.add_argument("--warmup", type=int, default=5, help="untimed repetitions per case")
    parser.add_argument("--mesh", default=None, help="raster: mesh file (.obj/.ply/... or .npz with vertices, faces)")
    parser.add_argument("--width", type=int, default=1920, help="raster: image width")
    parser.add_argument("--height", type=int, default=1080, help="raster: image height")
    # splat suite flags here, not imported from bench_splat: that module loads torch, and parsing must not
    parser.add_argument("--cases", default=None,
                        help="splat: subset of a,b,c (default all); train: of lego,fox,panoptic,demo "
                             "(default lego,fox,panoptic); fields: of enc,mlp,gia (default all)")
    parser.add_argument("--garden", default=None, help="splat: path to test_garden.npz")
    parser.add_argument("--scale", type=float, default=1.0, help="splat, fields: shrink the sizes (CPU runs)")
    parser.add_argument("--no-gsplat", action="store_true", help="splat: skip the gsplat baseline")
    parser.add_argument("--data", default=os.environ.get("NGFX_DATA", "../shared/data"),
                        help="train: the folder holding lego400/, fox/, panoptic-basketball/ ($NGFX_DATA)")
    parser.add_argument("--budget", type=float, default=None,
                        help="train: seconds of training per case (default the case's: 300, 300, 600)")
    parser.add_argument("--steps", type=int, default=None,
                        help="train: steps per case (default: calibrated to fit the budget)")
    parser.add_argument("--downscale", type=int, default=1, help="train: shrink the images by this factor")


def median_ms(fn, *, repeats: int, warmup: int, sync) -> tuple[float, float]:
    """Median and spread (p90 - p10) of fn() in milliseconds, synchronising the device around each run."""
    import time

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]  # noqa: E731
    return pick(0.5), pick(0.9) - pick(0.1)


def _commit() -> str | None:
    """The source commit: $NGFX_COMMIT (for copies without .git, e.g. on a lent GPU machine), else git."""
    if os.environ.get("NGFX_COMMIT"):
        return os.environ["NGFX_COMMIT"]
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True,
                              timeout=10).stdout.strip() or None
    except OSError:
        return None


def write_json_atomic(path: str, data: dict) -> None:
    write_atomic(path, [json.dumps(data, indent=2).encode()], what="the benchmark JSON")


def main(args) -> int:
    import torch

    from ngfx.cli.common import check_size
    from ngfx.errors import InputError

    if args.repeats < 1 or args.warmup < 0:
        raise InputError(f"need --repeats >= 1 and --warmup >= 0, got {args.repeats} and {args.warmup}",
                         field="--repeats")
    check_size(args.width, args.height)
    out = args.out or os.path.join("bench-out", f"{args.suite}.json")
    if args.out is None:
        os.makedirs("bench-out", exist_ok=True)  # the default folder is ngfx's own
    check_output_folder(out)
    suite = importlib.import_module(SUITES[args.suite])
    if hasattr(suite, "check_args"):  # bad flags fail before the runtime starts (and prints its banner)
        suite.check_args(args)
    arch = start_runtime(args)
    rows, meta = suite.run(args)
    record = {"suite": args.suite, "date": datetime.date.today().isoformat(), "commit": _commit(), "arch": arch,
              "card": torch.cuda.get_device_name(0) if arch == "cuda" else platform.processor() or platform.machine(),
              "cpu_threads": os.cpu_count(), **meta, "rows": rows}
    print(suite.table(record))
    write_json_atomic(out, record)
    print(f"wrote {out}")
    return 0
