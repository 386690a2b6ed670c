"""Suite `fields`: the neural-field kernels side by side with PyTorch in one process (issue 10).

Cases:
- `enc`: hash-grid encoding (3D, L=16, F=2, T=2^19, N_min 16, N_max 2048, float32 table) forward and
  forward+backward (to the table, random cotangent) for 2^18 .. 2^23 points, against the vectorised torch
  implementation (`ngfx.kernels.encodings.hashgrid.reference`), eager and `torch.compile`d;
- `mlp`: the fused MLP (32 inputs, 2 hidden layers of width 64, 16 outputs) forward and forward+backward at
  batch 2^20 and 2^22, float32 and float16, against bias-free `nn.Linear` stacks in float32 and under bf16
  autocast (tensor cores), eager and compiled;
- `gia`: the fused encoding + MLP inference of a gigapixel-image field (L16, F2, T=2^24, 64 x 2) rendering a
  3840 x 2160 frame, and the same frame through the separate encode and MLP ops.
Ceilings measured in the same run: DRAM bandwidth (a 1 GiB device copy) and L2-resident bandwidth (a 16 MiB
copy repeated), so the encoding's gather rate can be read as a fraction of them.
`--scale` shrinks the sizes for CPU runs. Compiled baselines that fail to compile are reported, not fatal.
"""

import math

import torch

from ngfx.cli.bench_fields_cases import ceilings, encoding_rows, gia_rows, mlp_rows

__all__ = ["run", "table", "check_args"]

CASES = ("enc", "mlp", "gia")


def check_args(args) -> None:
    from ngfx.errors import InputError

    for case in _cases(args):
        if case not in CASES:
            raise InputError(f"unknown case {case!r}", field="--cases", fix=f"choose from {','.join(CASES)}")
    if not 0 < args.scale <= 1:
        raise InputError(f"must be in (0, 1], got {args.scale}", field="--scale", fix="e.g. 0.01 on a CPU")


def _cases(args) -> list[str]:
    return [c.strip() for c in (args.cases or ",".join(CASES)).split(",") if c.strip()]


def run(args):
    from ngfx.kernels import runtime

    dev = runtime.device()
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    rows, meta = [], {"ceilings": ceilings(dev, args, sync)}
    print(f"ceilings: {meta['ceilings']}", flush=True)
    for case in _cases(args):
        builder = {"enc": encoding_rows, "mlp": mlp_rows, "gia": gia_rows}[case]
        for row in builder(dev, args, sync):
            rows.append(row)
            print(_row_line(row), flush=True)
    return rows, meta


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    return str(v)


def _row_line(r) -> str:
    keys = [k for k in r if k not in ("case",)]
    return f"{r['case']:>4} " + "  ".join(f"{k} {_fmt(r[k])}" for k in keys)


def table(record) -> str:
    lines = [f"fields bench on {record['arch']} ({record['card']}), commit {record['commit']}",
             f"  ceilings: {record['ceilings']}"]
    lines += [_row_line(r) for r in record["rows"]]
    return "\n".join(lines)
