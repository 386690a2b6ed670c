"""Start the Taichi runtime from the shared CLI flags and report first-use latency under --verbose."""

import time

from ngfx.kernels import runtime

__all__ = ["start_runtime", "Stopwatch"]


def start_runtime(args) -> str:
    """Initialise Taichi on --arch (or the automatic choice); print the choice under --verbose."""
    arch = runtime.init(args.arch, debug=args.debug, verbose=args.verbose)
    if args.verbose:
        print(f"ngfx: Taichi backend {arch} (started in {runtime.describe()['init_s']:.2f} s)")
    return arch


class Stopwatch:
    """Prints the latency of the first frame (kernel compilation or the offline cache) under --verbose."""

    def __init__(self, verbose: bool):
        self.verbose, self.t0, self.reported = verbose, time.perf_counter(), False

    def frame_done(self) -> None:
        if self.verbose and not self.reported:
            print(f"ngfx: first frame after {time.perf_counter() - self.t0:.2f} s")
            self.reported = True
