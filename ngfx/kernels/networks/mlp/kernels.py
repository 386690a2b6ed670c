"""Taichi kernels of the fully fused MLP (REFERENCE 4.3): forward here, backward in kernels_bwd.py.

Math (config.py): z_0 = W_0 x, h_l = relu(z_l), z_{l+1} = W_{l+1} h_l, y = act(z_h). Per row, the forward
saves (when a gradient is wanted) `saved = [h_0 .. h_{h-1}, z_h]`, h * width + n_outputs values in the
storage dtype, which the backward reads instead of recomputing the forward (see kernels_bwd.py for why).

Two paths, chosen with ti.static from the backend when the factory runs; same formulas, same roundings:
- portable (CPU; no SharedArray there in Taichi 1.7.4): a thread per row, the row's activations in a local
  vector, weights read from global memory (`make_mlp_funcs`, which a fused encoding + MLP kernel reuses).
- shared (CUDA and Vulkan, whose SharedArray works): a block of `threads` threads owns `rows` rows. The
  block's activations live in shared memory channel-major, act[k * pitch + r] (pitch = rows + 1, odd, so
  a warp reading consecutive rows or consecutive channels hits distinct banks), and each layer is a small
  GEMM in scalar FMAs (Taichi has no tensor-core intrinsics, taichi #7015): thread `lane` keeps a register
  tile of tr rows x to outputs (rows lane % rg + i rg, outputs lane // rg + j og) and, for every input
  channel, loads tr activations and to weights from shared memory for tr * to FMAs (`row_tile` picks the
  shape that balances FMA issue against shared loads). Weights are staged into shared memory in chunks
  of input channels (ws[o * chunk_pitch + kk]); every layer's output overwrites the block's buffer in
  place after a barrier (the last layer's too, so outputs leave coalesced). Rows past N are zero-filled
  and never written. Taichi's compile time grows with unrolled code, so the (width, width) layers share
  one runtime loop and tiles store unguarded into padding channels (`BlockPlan.channels`).
Storage dtypes: f32 and f64 compute in themselves; f16 stores inputs, weights, every layer's output (hidden
ones after the ReLU, the last before the output activation, so both paths round alike) and outputs in f16
but computes and accumulates in f32: Taichi emits scalar half FMAs, which run no faster than f32 FMAs on
CUDA cores (only paired half2 ops or tensor cores would), and an f16 accumulator over 128 terms loses ~5
bits. Indexing is 32-bit: N * saved_width must stay below 2^31.
"""

import dataclasses
import functools
import types
import typing

from ngfx.kernels import runtime
from ngfx.kernels.launch import fast
from ngfx.kernels.networks.mlp.config import MLPConfig

__all__ = ["BlockPlan", "RowTile", "block_threads", "compute_dtype_name", "forward_plan", "make_mlp_funcs",
           "make_mlp_kernels", "row_tile", "saved_width", "uses_shared_memory"]

SHARED_BUDGET = {"cuda": 46 * 1024, "vulkan": 28 * 1024}  # bytes a block: CUDA's static 48 KB, Vulkan's 32 KB
ACT_SHARE = 0.75  # of the budget for the activation buffers; the rest holds a weight chunk
ROWS = (128, 64, 32, 16, 8)  # rows a block, largest first (tcnn: 128)
MAX_ACC = 64  # accumulators a thread (register budget of the tile)
MAX_UNROLL = 32  # a tile side: Taichi warns about longer static loops
BYTES = {"f16": 2, "f32": 4, "f64": 8}


def compute_dtype_name(dtype_name: str) -> str:
    """Arithmetic and accumulation dtype of a storage dtype (module docstring)."""
    return "f32" if dtype_name == "f16" else dtype_name


def saved_width(cfg: MLPConfig) -> int:
    """Values a row saves for the backward: the hidden activations, then the output pre-activations."""
    return cfg.n_hidden_layers * cfg.width + cfg.n_outputs


def uses_shared_memory(arch_name: str | None) -> bool:
    """Backends whose Taichi 1.7.4 SharedArray and block barriers work (CPU has neither)."""
    return arch_name in SHARED_BUDGET


def _cost(accumulators: int, loads: int) -> int:
    """Issue cycles of one reduction step: an SM issues 128 FMA lanes but one 32-lane shared load a clock."""
    return max(accumulators, 4 * loads)


class RowTile(typing.NamedTuple):
    """Register tile of a block's [rows, d] product: thread `lane` owns rows lane % rg + i rg (i < tr) and
    outputs lane // rg + j og (j < to, og = threads / rg); outputs past d are clamped and not stored."""

    rg: int
    og: int
    tr: int
    to: int


def row_tile(rows: int, threads: int, d: int) -> RowTile:
    """The cheapest tile (by `_cost`) within MAX_ACC accumulators; ties go to more row groups."""
    best, rg = None, 1
    while rg <= min(rows, threads):
        og, tr = threads // rg, rows // rg
        to = -(-d // og)
        if tr * to <= MAX_ACC and max(tr, to) <= MAX_UNROLL:
            key = (_cost(tr * to, tr + to), -rg)
            if best is None or key < best[0]:
                best = (key, RowTile(rg, og, tr, to))
        rg *= 2
    if best is None:
        raise ValueError(f"no register tile of {rows} rows x {d} outputs fits {threads} threads")
    return best[1]


def block_threads(rows: int, widest: int) -> int:
    """Threads a block: enough that the widest layer's tile stays within MAX_ACC, 64 to 256."""
    need = -(-rows * widest // MAX_ACC)
    return min(256, max(64, 1 << (need - 1).bit_length()))


def even_chunk(total: int, room: int) -> int:
    """The chunk length that splits `total` channels into the fewest near-equal chunks of at most `room`."""
    assert room >= 1, room
    n_chunks = -(-total // room)
    return -(-total // n_chunks)


@dataclasses.dataclass(frozen=True)
class BlockPlan:
    """Geometry of a shared-memory kernel: rows and threads a block, pitch = rows + 1 of the channel-major
    buffers and their channel counts (`channels`; padded so that tiles store unguarded), the weight chunk
    (input channels staged at once forward, weight rows backward) and its pitch, one RowTile a layer and,
    backward, one GradTile a layer."""

    rows: int
    threads: int
    pitch: int
    channels: tuple
    chunk: int
    chunk_pitch: int
    row_tiles: tuple
    grad_tiles: tuple = ()


def forward_plan(cfg: MLPConfig, dtype_name: str, arch_name: str) -> BlockPlan:
    """Forward: act [channels[0]][pitch] holds a layer's input, then its output; ws [max(width,
    n_outputs)][chunk_pitch]. The most rows whose act fits ACT_SHARE of the budget; ws takes the rest."""
    size, budget = BYTES[dtype_name], SHARED_BUDGET[arch_name]
    n_wout = max(cfg.width, cfg.n_outputs)
    for rows in ROWS:
        threads = block_threads(rows, n_wout)
        tiles = tuple(row_tile(rows, threads, out) for out, _ in cfg.layer_shapes())
        n_act = max([cfg.n_inputs, cfg.width] + [t.og * t.to for t in tiles])
        if n_act * (rows + 1) * size <= ACT_SHARE * budget:
            room = (budget - n_act * (rows + 1) * size) // (n_wout * size) - 1
            chunk = even_chunk(max(cfg.n_inputs, cfg.width), room)
            return BlockPlan(rows, threads, rows + 1, (n_act,), chunk, chunk | 1, tiles)  # odd: distinct banks
    raise ValueError(f"{cfg} does not fit the {arch_name} shared-memory budget even at {ROWS[-1]} rows")


@functools.cache
def make_mlp_funcs(cfg: MLPConfig, dtype_name: str) -> types.SimpleNamespace:
    """@ti.func building blocks for storage dtype 'f16' | 'f32' | 'f64' (compute dtype: compute_dtype_name).

    forward(params, x) -> y: a ti.Vector of n_outputs (compute dtype) for x an n_inputs vector and params
    the calling kernel's flat [n_params] ndarray. Also dense(params, layer, h, z) (z = W_layer h, rounded
    to the storage dtype) and hidden(params, layer, h, z) (z = relu(W_layer h), rounded), which write into the
    caller's local vectors of n_buf entries (passed by reference: returning fresh vectors from every layer
    made the CPU compile 10x slower), activate(z) and activate_grad(z) = dy/dz.
    """
    ti = runtime.taichi()
    st, ct = getattr(ti, dtype_name), getattr(ti, compute_dtype_name(dtype_name))
    shapes, offsets, act = cfg.layer_shapes(), cfg.layer_offsets(), cfg.output_activation
    n_buf, n_hidden = max(cfg.width, cfg.n_inputs, cfg.n_outputs), cfg.n_hidden_layers

    @ti.func
    def rounded(v):
        """v rounded to the storage dtype, as the shared path and `saved` keep every layer's output."""
        return ti.cast(ti.cast(v, st), ct)

    @ti.func
    def dense(params: ti.template(), layer: ti.template(), h: ti.template(), z: ti.template()):
        n_out, n_in, off = ti.static(shapes[layer][0], shapes[layer][1], offsets[layer])
        for o in range(n_out):
            acc = ct(0.0)
            for k in range(n_in):
                acc += ti.cast(params[off + o * n_in + k], ct) * h[k]
            z[o] = rounded(acc)

    @ti.func
    def hidden(params: ti.template(), layer: ti.template(), h: ti.template(), z: ti.template()):
        dense(params, layer, h, z)
        for o in range(cfg.width):
            z[o] = ti.max(z[o], 0.0)

    @ti.func
    def activate(z):
        y = z
        if ti.static(act == "sigmoid"):
            y = 1.0 / (1.0 + ti.exp(-z))
        elif ti.static(act == "exp"):
            y = ti.exp(z)
        elif ti.static(act == "softplus"):  # torch's: z past 20, else log1p(e^z) by Kahan's trick; no branch
            u = ti.exp(ti.min(z, 20.0))
            w = 1.0 + u
            y = ti.select(z > 20.0, z, ti.select(w == 1.0, u, ti.log(w) * u / (w - 1.0)))
        return y

    @ti.func
    def activate_grad(z):
        g = ct(1.0)
        if ti.static(act == "sigmoid"):
            s = 1.0 / (1.0 + ti.exp(-z))
            g = s * (1.0 - s)
        elif ti.static(act == "exp"):
            g = ti.exp(z)
        elif ti.static(act == "softplus"):
            u = ti.exp(ti.min(z, 20.0))
            g = ti.select(z > 20.0, ct(1.0), u / (u + 1.0))
        return g

    @ti.func
    def forward(params: ti.template(), x):
        a, b = ti.Vector.zero(ct, n_buf), ti.Vector.zero(ct, n_buf)  # ping-pong layer buffers
        for k in range(cfg.n_inputs):
            a[k] = ti.cast(x[k], ct)
        for layer in ti.static(range(n_hidden)):
            if ti.static(layer % 2 == 0):
                hidden(params, layer, a, b)
            else:
                hidden(params, layer, b, a)
        if ti.static(n_hidden % 2 == 0):
            dense(params, n_hidden, a, b)
        else:
            dense(params, n_hidden, b, a)
        z = a if ti.static(n_hidden % 2 == 1) else b
        return ti.Vector([activate(z[o]) for o in ti.static(range(cfg.n_outputs))], ct)

    return types.SimpleNamespace(rounded=rounded, dense=dense, hidden=hidden, activate=activate,
                                 activate_grad=activate_grad, forward=forward, n_buf=n_buf)


def block_io(st, plan: BlockPlan):
    """@ti.func moving [rows, width] slabs between global [N, C] arrays and a channel-major shared buffer:
    lanes walk the slab row-major, so global accesses are coalesced and shared ones (pitch odd) distinct."""
    ti = runtime.taichi()
    rows, threads, pitch = plan.rows, plan.threads, plan.pitch

    @ti.func
    def load(buf: ti.template(), src: ti.template(), col0, width: ti.template(), lane, row0, n):
        """buf[k * pitch + r] = src[row0 + r, col0 + k], zero past row n."""
        for j in range((rows * width + threads - 1) // threads):
            idx = lane + j * threads
            if idx < rows * width:
                r, k = idx // width, idx % width
                v = st(0.0)
                if row0 + r < n:
                    v = src[row0 + r, col0 + k]
                buf[k * pitch + r] = v

    @ti.func
    def store(buf: ti.template(), dst: ti.template(), col0, width: ti.template(), lane, row0, n):
        """dst[row0 + r, col0 + k] = buf[k * pitch + r] for rows before n."""
        for j in range((rows * width + threads - 1) // threads):
            idx = lane + j * threads
            r, k = idx // width, idx % width
            if idx < rows * width and row0 + r < n:
                dst[row0 + r, col0 + k] = buf[k * pitch + r]

    return load, store


@functools.cache
def make_mlp_kernels(cfg: MLPConfig, dtype_name: str, generation: int) -> types.SimpleNamespace:
    """fwd(inputs, params, want_saved, outputs, saved) and bwd(...) (kernels_bwd.py) for one config, storage
    dtype and backend (runtime.arch() of this generation). `saved` is [N, saved_width] when want_saved,
    else a [1, saved_width] dummy."""
    from ngfx.kernels.networks.mlp.kernels_bwd import make_backward_kernel

    arch_name = runtime.arch()
    if uses_shared_memory(arch_name):
        fwd = _shared_forward(cfg, dtype_name, forward_plan(cfg, dtype_name, arch_name))
    else:
        fwd = _portable_forward(cfg, dtype_name)
    return types.SimpleNamespace(fwd=fast(fwd), bwd=fast(make_backward_kernel(cfg, dtype_name, arch_name)))


def _portable_forward(cfg: MLPConfig, dtype_name: str):
    ti = runtime.taichi()
    st, ct = getattr(ti, dtype_name), getattr(ti, compute_dtype_name(dtype_name))
    arr, f = ti.types.ndarray, make_mlp_funcs(cfg, dtype_name)
    n_hidden, width, n_out = cfg.n_hidden_layers, cfg.width, cfg.n_outputs
    shapes, offsets = cfg.layer_shapes(), cfg.layer_offsets()

    @ti.kernel
    def mlp_fwd(inputs: arr(st, ndim=2),  # [N, n_inputs]
                params: arr(st, ndim=1),  # [n_params] weight matrices, row-major (out, in), input layer first
                want_saved: ti.i32,
                outputs: arr(st, ndim=2),  # [N, n_outputs] out
                saved: arr(st, ndim=2)):  # [N, saved_width] out when want_saved: h_0 .. h_{h-1}, z_h
        for row in range(inputs.shape[0]):
            if not want_saved:  # inference: the building block a fused kernel calls
                y = f.forward(params, ti.Vector([inputs[row, k] for k in ti.static(range(cfg.n_inputs))]))
                for o in range(n_out):
                    outputs[row, o] = ti.cast(y[o], st)
            else:  # `saved` holds the activations, each layer reads the previous one back
                for layer in ti.static(range(n_hidden + 1)):
                    n_o, n_i, off = ti.static(shapes[layer][0], shapes[layer][1], offsets[layer])
                    for o in range(n_o):
                        acc = ct(0.0)
                        for k in range(n_i):
                            a = ct(0.0)
                            if ti.static(layer == 0):
                                a = ti.cast(inputs[row, k], ct)
                            else:
                                a = ti.cast(saved[row, (layer - 1) * width + k], ct)
                            acc += ti.cast(params[off + o * n_i + k], ct) * a
                        if ti.static(layer < n_hidden):
                            saved[row, layer * width + o] = ti.cast(ti.max(acc, 0.0), st)
                        else:
                            outputs[row, o] = ti.cast(f.activate(f.rounded(acc)), st)
                            saved[row, n_hidden * width + o] = ti.cast(acc, st)

    return mlp_fwd


def forward_tile_func(ct, plan: BlockPlan):
    """@ti.func forward_tile(act, ws, params, lane, tile, n_out, n_in, off) -> acc [tr, to]: the RowTile's
    part of W act for W (n_out, n_in) at params[off:], staged in chunks of input channels. Starts with a
    barrier, so act may have been written just before."""
    ti = runtime.taichi()
    pitch, chunk, chunk_pitch, threads = plan.pitch, plan.chunk, plan.chunk_pitch, plan.threads

    @ti.func
    def forward_tile(act: ti.template(), ws: ti.template(), params: ti.template(), lane,
                     tile: ti.template(), n_out: ti.template(), n_in: ti.template(), off):
        rg, og = lane % tile.rg, lane // tile.rg
        acc = ti.Matrix.zero(ct, tile.tr, tile.to)
        for c in range((n_in + chunk - 1) // chunk):
            k0 = c * chunk
            kc = ti.min(chunk, n_in - k0)
            ti.simt.block.sync()  # everyone is done with the previous chunk
            for j in range((n_out * chunk + threads - 1) // threads):
                idx = lane + j * threads
                if idx < n_out * kc:  # weights row by row: coalesced reads
                    o, kk = idx // kc, idx % kc
                    ws[o * chunk_pitch + kk] = params[off + o * n_in + k0 + kk]
            ti.simt.block.sync()
            for kk in range(kc):
                a = ti.Vector([ti.cast(act[(k0 + kk) * pitch + rg + i * tile.rg], ct)
                               for i in ti.static(range(tile.tr))])
                w = ti.Vector([ti.cast(ws[ti.min(og + j * tile.og, n_out - 1) * chunk_pitch + kk], ct)
                               for j in ti.static(range(tile.to))])
                acc += a.outer_product(w)
        return acc

    return forward_tile


def _shared_forward(cfg: MLPConfig, dtype_name: str, plan: BlockPlan):
    ti = runtime.taichi()
    st, ct = getattr(ti, dtype_name), getattr(ti, compute_dtype_name(dtype_name))
    arr, f, forward_tile = ti.types.ndarray, make_mlp_funcs(cfg, dtype_name), forward_tile_func(ct, plan)
    load, store = block_io(st, plan)
    rows, threads, pitch, tiles = plan.rows, plan.threads, plan.pitch, plan.row_tiles
    n_hidden, width, n_out, offsets = cfg.n_hidden_layers, cfg.width, cfg.n_outputs, cfg.layer_offsets()
    ws_size = max(width, n_out) * plan.chunk_pitch

    @ti.func
    def layer_step(act: ti.template(), ws: ti.template(), params: ti.template(), lane, tile: ti.template(),
                   n_o: ti.template(), n_i: ti.template(), off, relu: ti.template()):
        """act <- (relu)(W act) for the block, in place after a barrier. Tiles store unguarded: outputs past
        n_o land in the buffer's padding channels or in inputs already consumed (channels >= n_o)."""
        acc = forward_tile(act, ws, params, lane, tile, n_o, n_i, off)
        rg, og = lane % tile.rg, lane // tile.rg
        ti.simt.block.sync()  # every thread has read the layer's input
        for i in ti.static(range(tile.tr)):
            for j in ti.static(range(tile.to)):
                v = ti.max(acc[i, j], 0.0) if ti.static(relu) else acc[i, j]
                act[(og + j * tile.og) * pitch + rg + i * tile.rg] = ti.cast(v, st)
        ti.simt.block.sync()

    @ti.kernel
    def mlp_fwd(inputs: arr(st, ndim=2), params: arr(st, ndim=1), want_saved: ti.i32,
                outputs: arr(st, ndim=2), saved: arr(st, ndim=2)):  # as the portable kernel's
        n = inputs.shape[0]
        ti.loop_config(block_dim=threads)
        for t in range((n + rows - 1) // rows * threads):
            lane, row0 = t % threads, t // threads * rows
            act = ti.simt.block.SharedArray((plan.channels[0] * pitch,), st)  # [channel][row] activations
            ws = ti.simt.block.SharedArray((ws_size,), st)  # [out][chunk] weights
            load(act, inputs, 0, cfg.n_inputs, lane, row0, n)
            layer_step(act, ws, params, lane, ti.static(tiles[0]), width, cfg.n_inputs, 0, True)
            if want_saved:
                store(act, saved, 0, width, lane, row0, n)
            if ti.static(n_hidden > 1):  # the (width, width) layers: one loop, one copy of the code
                for m in range(n_hidden - 1):
                    layer_step(act, ws, params, lane, ti.static(tiles[1]), width, width,
                               offsets[1] + m * width * width, True)
                    if want_saved:
                        store(act, saved, (m + 1) * width, width, lane, row0, n)
            layer_step(act, ws, params, lane, ti.static(tiles[n_hidden]), n_out, width, offsets[n_hidden], False)
            if want_saved:
                store(act, saved, n_hidden * width, n_out, lane, row0, n)
            for j in range((rows * n_out + threads - 1) // threads):  # coalesced, as `store`
                idx = lane + j * threads
                r, o = idx // n_out, idx % n_out
                if idx < rows * n_out and row0 + r < n:
                    outputs[row0 + r, o] = ti.cast(f.activate(ti.cast(act[o * pitch + r], ct)), st)

    return mlp_fwd
