"""Backward kernel of the fully fused MLP: grad_inputs and grad_params in one launch (math in kernels.py).

Per row, with saved = [h_0 .. h_{h-1}, z_h] from the forward: delta_h = g * act'(z_h) (sigmoid: s (1 - s),
exp: e^z, softplus: e^z / (1 + e^z), 1 past z = 20 as torch, none: 1); then for layer l from h down to 0:
grad W_l += delta_l h_{l-1}^T (h_{-1} = x), delta_{l-1} = (W_l^T delta_l) * [h_{l-1} > 0] (ReLU: zero slope
where the pre-activation is <= 0, as torch), and grad_x = W_0^T delta_0.

Saved activations rather than a recomputed forward: backpropagating a block through every layer needs
every layer's activations of the block at once, h * rows * width values (256 KB at 8 x 128 x 64 f32, past
any shared memory), so a recompute would either spill them to global memory anyway or redo O(h^2) layer
products. Even for two layers, where they would fit, recomputing adds the forward's FMAs (a third of the
training arithmetic) to the resource that binds this kernel (FMA and shared-load issue), while saving
costs DRAM traffic that overlaps with the arithmetic: 2 x 64 f32 values a row, 512 B written once and
read once, about 0.3 ns a row at H100's 3.35 TB/s against ~0.4 ns of forward FMAs at half of FP32 peak.

Shared-memory path (CUDA, Vulkan): a block owns `rows` rows; dl[o * pitch + r] holds the block's deltas
(compute dtype, so f16 gradients do not underflow between layers), ac[k * pitch + r] the layer's input
activations (loaded from `saved` or the inputs), ws a chunk of W_l's rows. Weight gradients are summed
over the block's rows in registers (GradTile: thread owns outputs tau // kt + i ot and inputs tau % kt +
j kt, so lanes read distinct banks and their atomics are coalesced), then one atomic add per weight per
block. Deltas to the layer below are a RowTile product over the layer's outputs, staged like the forward.
Portable path (CPU): the rows are cut into PORTABLE_CHUNKS contiguous runs, one CPU task each; a task
walks its rows one by one and adds its weight gradients into its own row of grad_params [chunks, n_params]
with plain stores, and the op sums the chunks. (One atomic add per weight per row, the obvious version,
took 1.2 s for 16k rows of the 32-64-64-3 image MLP on 2 cores: every thread hammers the same few thousand
addresses, so each add moves a cache line between the cores.)
"""

import typing

from ngfx.kernels import runtime
from ngfx.kernels.networks.mlp.config import MLPConfig
from ngfx.kernels.networks.mlp.kernels import (
    ACT_SHARE,
    BYTES,
    ROWS,
    SHARED_BUDGET,
    BlockPlan,
    _cost,
    block_io,
    block_threads,
    compute_dtype_name,
    even_chunk,
    make_mlp_funcs,
    row_tile,
    uses_shared_memory,
)

__all__ = ["GradTile", "PORTABLE_CHUNKS", "backward_plan", "grad_tile", "make_backward_kernel"]

PORTABLE_CHUNKS = 64  # CPU tasks of the portable backward: enough to balance the cores, few partial sums


class GradTile(typing.NamedTuple):
    """Register tile of a [d, k] weight gradient summed over the block's rows, in `passes` rounds of
    tiles tau = lane + p threads (module docstring)."""

    ot: int
    kt: int
    to: int
    tk: int
    passes: int


def grad_tile(threads: int, d: int, k: int) -> GradTile:
    """The cheapest tile of up to 8 x 8 accumulators (passes times `_cost`); ties go to fewer."""
    best = None
    for to in (1, 2, 4, 8):
        for tk in (1, 2, 4, 8):
            ot, kt = -(-d // to), -(-k // tk)
            passes = -(-ot * kt // threads)
            key = (passes * _cost(to * tk, to + tk), to * tk)
            if best is None or key < best[0]:
                best = (key, GradTile(ot, kt, to, tk, passes))
    return best[1]


def backward_plan(cfg: MLPConfig, dtype_name: str, arch_name: str) -> BlockPlan:
    """dl [channels[0]][pitch] (compute dtype) and ac [channels[1]][pitch] take ACT_SHARE of the budget at
    the most rows that fit; ws, `chunk` weight rows of pitch max(n_inputs, width) + 1, takes the rest."""
    size, c_size, budget = BYTES[dtype_name], BYTES[compute_dtype_name(dtype_name)], SHARED_BUDGET[arch_name]
    n_act, shapes = max(cfg.n_inputs, cfg.width), cfg.layer_shapes()
    for rows in ROWS:
        threads = block_threads(rows, max(cfg.width, cfg.n_outputs, n_act))
        tiles = tuple(row_tile(rows, threads, n_in) for _, n_in in shapes)  # deltas of each layer's input
        n_delta = max([cfg.width, cfg.n_outputs] + [t.og * t.to for t in tiles])
        used = (n_delta * c_size + n_act * size) * (rows + 1)
        if used <= ACT_SHARE * budget:
            chunk = even_chunk(max(cfg.width, cfg.n_outputs), (budget - used) // ((n_act + 1) * size))
            return BlockPlan(rows, threads, rows + 1, (n_delta, n_act), chunk, n_act + 1, tiles,
                             tuple(grad_tile(threads, n_out, n_in) for n_out, n_in in shapes))
    raise ValueError(f"{cfg} does not fit the {arch_name} shared-memory budget even at {ROWS[-1]} rows")


def make_backward_kernel(cfg: MLPConfig, dtype_name: str, arch_name: str | None):
    """mlp_bwd(inputs, params, saved, grad_outputs, flags, grad_inputs, grad_params): flags bit 0 asks for
    grad_inputs ([N, n_inputs], else a [1, n_inputs] dummy), bit 1 for grad_params (accumulated into the
    zeroed [n_params] tensor; on the portable path a zeroed [PORTABLE_CHUNKS, n_params] of partial sums
    whose sum over dim 0 is the gradient). Both gradients are in the compute dtype (float32 for f16 storage)."""
    if uses_shared_memory(arch_name):
        return _shared_backward(cfg, dtype_name, backward_plan(cfg, dtype_name, arch_name))
    return _portable_backward(cfg, dtype_name)


def _portable_backward(cfg: MLPConfig, dtype_name: str):
    ti = runtime.taichi()
    st, ct = getattr(ti, dtype_name), getattr(ti, compute_dtype_name(dtype_name))
    arr, f = ti.types.ndarray, make_mlp_funcs(cfg, dtype_name)
    n_hidden, width, n_layers = cfg.n_hidden_layers, cfg.width, cfg.n_layers
    shapes, offsets = cfg.layer_shapes(), cfg.layer_offsets()

    @ti.func
    def layer_backward(inputs: ti.template(), params: ti.template(), saved: ti.template(), flags, row,
                       grad_params: ti.template(), chunk, layer: ti.template(), delta: ti.template(),
                       below: ti.template()):
        """Weight gradients of one layer for one row, and the deltas of the layer below (into `below`)."""
        n_out, n_in, off = ti.static(shapes[layer][0], shapes[layer][1], offsets[layer])
        for k in range(n_in):
            a = ct(0.0)  # the layer's input activation k
            if ti.static(layer == 0):
                a = ti.cast(inputs[row, k], ct)
            else:
                a = ti.cast(saved[row, (layer - 1) * width + k], ct)
            acc = ct(0.0)
            for o in range(n_out):
                if flags & 2:  # this task's own partial sums: a plain store, no atomic
                    i = off + o * n_in + k
                    grad_params[chunk, i] = grad_params[chunk, i] + delta[o] * a
                acc += ti.cast(params[off + o * n_in + k], ct) * delta[o]
            if ti.static(layer > 0):
                acc = ti.select(a > 0, acc, ct(0.0))  # relu'(z) from h = relu(z): 0 where z <= 0
            below[k] = acc

    @ti.func
    def row_backward(inputs: ti.template(), params: ti.template(), saved: ti.template(),
                     grad_outputs: ti.template(), flags, grad_inputs: ti.template(), grad_params: ti.template(),
                     chunk, row):
        a, b = ti.Vector.zero(ct, f.n_buf), ti.Vector.zero(ct, f.n_buf)  # ping-pong deltas
        for o in range(cfg.n_outputs):
            z = ti.cast(saved[row, n_hidden * width + o], ct)
            a[o] = ti.cast(grad_outputs[row, o], ct) * f.activate_grad(z)
        for up in ti.static(range(n_layers)):
            if ti.static(up % 2 == 0):
                layer_backward(inputs, params, saved, flags, row, grad_params, chunk, n_layers - 1 - up, a, b)
            else:
                layer_backward(inputs, params, saved, flags, row, grad_params, chunk, n_layers - 1 - up, b, a)
        if flags & 1:
            for k in range(cfg.n_inputs):
                grad_inputs[row, k] = b[k] if ti.static(n_layers % 2 == 1) else a[k]

    @ti.kernel
    def mlp_bwd(inputs: arr(st, ndim=2),  # [N, n_inputs]
                params: arr(st, ndim=1),  # [n_params]
                saved: arr(st, ndim=2),  # [N, saved_width] from the forward
                grad_outputs: arr(st, ndim=2),  # [N, n_outputs] cotangent
                flags: ti.i32,
                grad_inputs: arr(ct, ndim=2),  # [N, n_inputs] out when flags & 1
                grad_params: arr(ct, ndim=2)):  # [PORTABLE_CHUNKS, n_params] partial sums when flags & 2
        n = inputs.shape[0]
        per = (n + PORTABLE_CHUNKS - 1) // PORTABLE_CHUNKS
        for chunk in range(PORTABLE_CHUNKS):  # one task a chunk; its rows run in order
            for r in range(per * chunk, ti.min(per * (chunk + 1), n)):
                row_backward(inputs, params, saved, grad_outputs, flags, grad_inputs, grad_params, chunk, r)

    return mlp_bwd


def _tile_funcs(ct, plan: BlockPlan):
    ti = runtime.taichi()
    pitch, chunk, chunk_pitch, threads = plan.pitch, plan.chunk, plan.chunk_pitch, plan.threads

    @ti.func
    def weight_grads(dl: ti.template(), ac: ti.template(), grad_params: ti.template(), lane, n_rows,
                     tile: ti.template(), n_out: ti.template(), n_in: ti.template(), off):
        """grad W[o, k] += sum_r dl[o][r] ac[k][r] over the block's rows: one atomic a weight a block."""
        for p in range(tile.passes):
            tau = lane + p * threads
            ot, kt = tau // tile.kt, tau % tile.kt
            if ot < tile.ot:
                g = ti.Matrix.zero(ct, tile.to, tile.tk)
                for r in range(n_rows):
                    d = ti.Vector([dl[ti.min(ot + i * tile.ot, n_out - 1) * pitch + r]
                                   for i in ti.static(range(tile.to))])
                    a = ti.Vector([ti.cast(ac[ti.min(kt + j * tile.kt, n_in - 1) * pitch + r], ct)
                                   for j in ti.static(range(tile.tk))])
                    g += d.outer_product(a)
                for j in ti.static(range(tile.tk)):
                    k = kt + j * tile.kt
                    if k < n_in:
                        for i in ti.static(range(tile.to)):  # an overhanging o adds 0 to row n_out - 1: no branch
                            o = ot + i * tile.ot
                            ti.atomic_add(grad_params[off + ti.min(o, n_out - 1) * n_in + k],
                                          ti.select(o < n_out, g[i, j], ct(0.0)))

    @ti.func
    def delta_tile(dl: ti.template(), ws: ti.template(), params: ti.template(), lane,
                   tile: ti.template(), n_out: ti.template(), n_in: ti.template(), off):
        """acc[i, j] = sum_o W[o, k_j] dl[o][r_i], W staged in chunks of rows. Starts with a barrier."""
        rg, kg = lane % tile.rg, lane // tile.rg
        acc = ti.Matrix.zero(ct, tile.tr, tile.to)
        for c in range((n_out + chunk - 1) // chunk):
            o0 = c * chunk
            oc = ti.min(chunk, n_out - o0)
            ti.simt.block.sync()  # everyone is done with the previous chunk
            for j in range((chunk * n_in + threads - 1) // threads):
                idx = lane + j * threads
                if idx < oc * n_in:  # rows o0 .. o0 + oc of W are contiguous
                    ws[idx // n_in * chunk_pitch + idx % n_in] = params[off + o0 * n_in + idx]
            ti.simt.block.sync()
            for oo in range(oc):
                d = ti.Vector([dl[(o0 + oo) * pitch + rg + i * tile.rg] for i in ti.static(range(tile.tr))])
                w = ti.Vector([ti.cast(ws[oo * chunk_pitch + ti.min(kg + j * tile.og, n_in - 1)], ct)
                               for j in ti.static(range(tile.to))])
                acc += d.outer_product(w)
        return acc

    return weight_grads, delta_tile


def _shared_backward(cfg: MLPConfig, dtype_name: str, plan: BlockPlan):
    ti = runtime.taichi()
    st, ct = getattr(ti, dtype_name), getattr(ti, compute_dtype_name(dtype_name))
    arr, f = ti.types.ndarray, make_mlp_funcs(cfg, dtype_name)
    load, store = block_io(st, plan)
    weight_grads, delta_tile = _tile_funcs(ct, plan)
    rows, threads, pitch, tiles, grad_tiles = plan.rows, plan.threads, plan.pitch, plan.row_tiles, plan.grad_tiles
    n_hidden, width, n_outputs, offsets = cfg.n_hidden_layers, cfg.width, cfg.n_outputs, cfg.layer_offsets()

    @ti.func
    def back_to_hidden(dl: ti.template(), ac: ti.template(), ws: ti.template(), params: ti.template(),
                       saved: ti.template(), grad_params: ti.template(), flags, lane, row0, n,
                       tile: ti.template(), grad_tile: ti.template(), n_out: ti.template(), off, col0):
        """A layer whose input is the hidden activation saved at col0: its weight gradients, then dl <- its
        input's deltas through the ReLU."""
        ti.simt.block.sync()  # deltas complete, the previous layer's inputs read
        load(ac, saved, col0, width, lane, row0, n)
        ti.simt.block.sync()
        if flags & 2:
            weight_grads(dl, ac, grad_params, lane, ti.min(rows, n - row0), grad_tile, n_out, width, off)
        acc = delta_tile(dl, ws, params, lane, tile, n_out, width, off)
        rg, kg = lane % tile.rg, lane // tile.rg
        ti.simt.block.sync()  # every thread has read dl
        for i in ti.static(range(tile.tr)):
            for j in ti.static(range(tile.to)):  # unguarded: channels past width are padding
                k, r = kg + j * tile.og, rg + i * tile.rg
                keep = ac[ti.min(k, width - 1) * pitch + r] > 0  # relu'(z) from h = relu(z): 0 where z <= 0
                dl[k * pitch + r] = ti.select(keep, acc[i, j], ct(0.0))

    @ti.kernel
    def mlp_bwd(inputs: arr(st, ndim=2), params: arr(st, ndim=1), saved: arr(st, ndim=2),
                grad_outputs: arr(st, ndim=2), flags: ti.i32,
                grad_inputs: arr(ct, ndim=2), grad_params: arr(ct, ndim=1)):  # as the portable kernel's
        n = inputs.shape[0]
        ti.loop_config(block_dim=threads)
        for t in range((n + rows - 1) // rows * threads):
            lane, row0 = t % threads, t // threads * rows
            dl = ti.simt.block.SharedArray((plan.channels[0] * pitch,), ct)  # [out][row] deltas
            ac = ti.simt.block.SharedArray((plan.channels[1] * pitch,), st)  # [in][row] layer inputs
            ws = ti.simt.block.SharedArray((plan.chunk * plan.chunk_pitch,), st)  # [out][in] weight rows
            for j in range((rows * n_outputs + threads - 1) // threads):
                idx = lane + j * threads
                if idx < rows * n_outputs:
                    r, o = idx // n_outputs, idx % n_outputs
                    d = ct(0.0)
                    if row0 + r < n:
                        z = ti.cast(saved[row0 + r, n_hidden * width + o], ct)
                        d = ti.cast(grad_outputs[row0 + r, o], ct) * f.activate_grad(z)
                    dl[o * pitch + r] = d
            back_to_hidden(dl, ac, ws, params, saved, grad_params, flags, lane, row0, n, ti.static(tiles[-1]),
                           ti.static(grad_tiles[-1]), n_outputs, offsets[-1], (n_hidden - 1) * width)
            if ti.static(n_hidden > 1):  # the (width, width) layers, top down: one loop, one copy of the code
                for m in range(n_hidden - 1):
                    layer = n_hidden - 1 - m
                    back_to_hidden(dl, ac, ws, params, saved, grad_params, flags, lane, row0, n,
                                   ti.static(tiles[1]), ti.static(grad_tiles[1]), width,
                                   offsets[1] + (layer - 1) * width * width, (layer - 1) * width)
            ti.simt.block.sync()
            load(ac, inputs, 0, cfg.n_inputs, lane, row0, n)
            ti.simt.block.sync()
            tile = ti.static(tiles[0])
            if flags & 2:
                weight_grads(dl, ac, grad_params, lane, ti.min(rows, n - row0), ti.static(grad_tiles[0]), width,
                             cfg.n_inputs, 0)
            if flags & 1:  # through dl, for coalesced stores
                acc = delta_tile(dl, ws, params, lane, tile, width, cfg.n_inputs, 0)
                rg, kg = lane % tile.rg, lane // tile.rg
                ti.simt.block.sync()  # every thread has read dl
                for i in ti.static(range(tile.tr)):
                    for j in ti.static(range(tile.to)):
                        dl[(kg + j * tile.og) * pitch + rg + i * tile.rg] = acc[i, j]
                ti.simt.block.sync()
                store(dl, grad_inputs, 0, cfg.n_inputs, lane, row0, n)

    return mlp_bwd
