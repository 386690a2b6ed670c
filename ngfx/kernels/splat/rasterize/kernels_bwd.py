"""Hand-written backward of the Gaussian rasterizer (REFERENCE 2.5); layouts as in kernels.py.

Each pixel walks its tile's list back to front from its last contributor, recovering the state instead
of storing it per sample:
    T_i      = T_{i+1} / (1 - alpha_i)                  from T_final (the 0.99 clamp keeps 1 - alpha >= 0.01)
    S_i      = sum_{j > i} c_j alpha_j T_j / T_{i+1}    suffix colour, S <- alpha_i c_i + (1 - alpha_i) S
    dL/dc_i     = alpha_i T_i dL/dC
    dL/dalpha_i = T_i (c_i - S_i) . dL/dC - T_final / (1 - alpha_i) dL/dT_final
with C the blended channels (features and depth) before background and normalisation, which op.py
applies (and differentiates) in torch. Per-Gaussian gradients are summed with atomics: one per
(pixel, Gaussian) pair on CPU and Vulkan; on CUDA (f32) warp shuffles first, then one global atomic per
warp and Gaussian (gsplat's scheme), which cuts global atomics 32-fold. Without a depth cotangent
(`depth_grad=False`: training on colour alone) the depth channel leaves the suffix, the dot product, the
shuffles and the atomics: its gradient is zero, and its slot in grad_gaussians stays as the caller zeroed
it. On Mesa lavapipe, Taichi 1.7.4
has been seen to drop atomics issued in a serial inner loop; tests/kernels/test_splat_rasterize.py
checks this backward on Vulkan, where it has passed so far.
"""

import functools

from ngfx.kernels import runtime
from ngfx.kernels.splat.rasterize.kernels import BLOCK, GEO, common_funcs, staged_rows

__all__ = ["make_backward_kernel"]

FULL_MASK = 0xFFFFFFFF
WARP = 32


@functools.cache
def make_backward_kernel(dtype_name: str, n_features: int, arch_name: str, generation: int,
                         depth_grad: bool = True):
    """rasterize_bwd for ('f32' | 'f64', F, backend, with or without the depth channel's gradient);
    `generation` re-keys the cache after a re-init."""
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    n_chan = n_features + 1
    n_row = GEO + n_chan
    n_grad = n_chan if depth_grad else n_features  # channels whose cotangent may be non-zero
    n_scatter = GEO + n_grad  # gradient entries worth summing per pair
    row_t, pix_t = ti.types.vector(n_row, dt), ti.types.vector(n_chan + 2, dt)
    lib = common_funcs(dtype_name, n_chan, generation)
    locate, cutoff, response, geometry_grads, channels = (lib.locate, lib.cutoff, lib.response,
                                                          lib.geometry_grads, lib.channels)
    shared = arch_name in ("cuda", "vulkan")
    warp_reduce = arch_name == "cuda" and dtype_name == "f32"  # Taichi 1.7.4 shuffles are 32-bit only
    n_stage = staged_rows(n_chan, dtype_name)  # the forward's shared-memory layout

    @ti.func
    def step(geo, cut, feat, px, py, rel_pos, n_contrib, T, suffix, T_final, grad_acc, grad_T):
        """One back-to-front step: (gradient row, contributed?, T_i, S_{i-1})."""
        grad_row = ti.Vector.zero(dt, n_row)
        alpha, gauss, dx, dy, clamped = response(geo[0], geo[1], geo[2], geo[3], geo[4], geo[5], cut, px, py)
        valid = rel_pos < n_contrib and alpha > 0.0  # the same pairs the forward blended
        if valid:
            inv_keep = 1.0 / (1.0 - alpha)
            T = T * inv_keep
            grad_alpha = T * (feat - suffix).dot(grad_acc) - T_final * inv_keep * grad_T
            suffix = alpha * feat + (1.0 - alpha) * suffix
            grad_geo = geometry_grads(alpha, gauss, dx, dy, clamped, geo[2], geo[3], geo[4], grad_alpha)
            grad_feat = grad_acc * (alpha * T)
            grad_row = ti.Vector([grad_geo[k] for k in ti.static(range(GEO))]
                                 + [grad_feat[k] for k in ti.static(range(n_grad))]
                                 + [0.0 for _ in ti.static(range(n_chan - n_grad))], dt)
        return grad_row, valid, T, suffix

    @ti.func
    def scatter(grad_gaussians: ti.template(), g, grad_row, valid, lane):
        """Add one pair's gradient row to Gaussian g (warp-summed first where shuffles exist)."""
        if ti.static(warp_reduce):
            if ti.simt.warp.any_nonzero(ti.u32(FULL_MASK), ti.cast(valid, ti.i32)):  # uniform in the warp
                for k in ti.static(range(n_scatter)):  # every lane shuffles; lane 0 ends with the sums
                    for offset in ti.static((16, 8, 4, 2, 1)):
                        grad_row[k] += ti.simt.warp.shfl_down_f32(ti.u32(FULL_MASK), grad_row[k], offset)
                if lane % WARP == 0:  # one branch for all atomics: the warp reconverges once
                    for k in ti.static(range(n_scatter)):
                        ti.atomic_add(grad_gaussians[g][k], grad_row[k])
        elif valid:
            for k in ti.static(range(n_scatter)):
                ti.atomic_add(grad_gaussians[g][k], grad_row[k])

    @ti.kernel
    def rasterize_bwd(gaussians: ti.types.ndarray(row_t, ndim=1),  # [N] packed rows
                      tile_ranges: ti.types.ndarray(ti.math.ivec2, ndim=1),  # [T] [start, end) in point_ids
                      point_ids: ti.types.ndarray(ti.i32, ndim=1),  # [P] Gaussian ids by tile, then depth
                      tiles_x: ti.i32, width: ti.i32, height: ti.i32,
                      out_pix: ti.types.ndarray(pix_t, ndim=2),  # [H, W] forward: channels, T_final, median
                      out_ids: ti.types.ndarray(ti.math.ivec2, ndim=2),  # [H, W] forward: n_contrib, last id
                      grad_pix: ti.types.ndarray(pix_t, ndim=2),  # [H, W] dL/d(channels, T_final, unused)
                      grad_gaussians: ti.types.ndarray(row_t, ndim=1)):  # [N] out, added to (caller zeroes)
        ti.loop_config(block_dim=BLOCK)
        for t in range(tile_ranges.shape[0] * BLOCK):
            tile, lane, px, py = locate(t, tiles_x)
            start = tile_ranges[tile][0]
            T_final, n_contrib = ti.cast(1.0, dt), 0
            grad_acc, grad_T = ti.Vector.zero(dt, n_grad), ti.cast(0.0, dt)
            if px < width and py < height:  # outside pixels only help load batches (n_contrib = 0)
                T_final, n_contrib = out_pix[py, px][n_chan], out_ids[py, px][0]
                grad_acc = ti.Vector([grad_pix[py, px][k] for k in ti.static(range(n_grad))], dt)
                grad_T = grad_pix[py, px][n_chan]
            T, suffix = T_final, ti.Vector.zero(dt, n_grad)
            if ti.static(shared):
                ids_sh = ti.simt.block.SharedArray((BLOCK,), ti.i32)
                rows_sh = ti.simt.block.SharedArray((n_stage, BLOCK), dt)  # as in the forward kernel
                used_sh = ti.simt.block.SharedArray((1,), ti.i32)  # the tile's largest n_contrib
                if lane == 0:
                    used_sh[0] = 0
                ti.simt.block.sync()
                ti.atomic_max(used_sh[0], n_contrib)
                ti.simt.block.sync()
                n_used = used_sh[0]  # Gaussians past every pixel's last contributor are never loaded
                n_batches = (n_used + BLOCK - 1) // BLOCK
                limit = n_contrib  # this lane's list positions to visit; a whole warp's with shuffles
                if ti.static(warp_reduce):  # the warp's largest n_contrib, in every lane (butterfly)
                    for offset in ti.static((16, 8, 4, 2, 1)):
                        limit = ti.max(limit, ti.simt.warp.shfl_xor_i32(ti.u32(FULL_MASK), limit, offset))
                for bb in range(n_batches):
                    b = n_batches - 1 - bb
                    ti.simt.block.sync()  # the previous batch is consumed before it is overwritten
                    if b * BLOCK + lane < n_used:
                        g = point_ids[start + b * BLOCK + lane]
                        ids_sh[lane] = g
                        for k in ti.static(range(n_stage)):
                            if ti.static(k < GEO):
                                rows_sh[k, lane] = gaussians[g][k]
                            elif ti.static(k == GEO):
                                rows_sh[k, lane] = cutoff(gaussians[g][GEO - 1])
                            else:
                                rows_sh[k, lane] = gaussians[g][k - 1]
                    ti.simt.block.sync()
                    count = ti.min(BLOCK, n_used - b * BLOCK)
                    for jj in range(count):
                        j = count - 1 - jj
                        if b * BLOCK + j < limit:  # uniform in a warp where shuffles follow
                            geo = ti.Vector([rows_sh[k, j] for k in ti.static(range(GEO))], dt)
                            feat = ti.Vector.zero(dt, n_grad)
                            if ti.static(n_stage > GEO + 1):
                                feat = ti.Vector([rows_sh[GEO + 1 + k, j] for k in ti.static(range(n_grad))])
                            else:  # too many channels to stage
                                all_chan = channels(gaussians, ids_sh[j])
                                feat = ti.Vector([all_chan[k] for k in ti.static(range(n_grad))], dt)
                            grad_row, valid, T, suffix = step(geo, rows_sh[GEO, j], feat, px, py,
                                                              b * BLOCK + j, n_contrib, T, suffix, T_final,
                                                              grad_acc, grad_T)
                            scatter(grad_gaussians, ids_sh[j], grad_row, valid, lane)
            else:
                for jj in range(n_contrib):
                    g = point_ids[start + n_contrib - 1 - jj]
                    geo = ti.Vector([gaussians[g][k] for k in ti.static(range(GEO))], dt)
                    feat = ti.Vector([gaussians[g][GEO + k] for k in ti.static(range(n_grad))], dt)
                    grad_row, valid, T, suffix = step(geo, -ti.math.inf, feat, px, py, n_contrib - 1 - jj,
                                                      n_contrib, T, suffix, T_final, grad_acc, grad_T)
                    scatter(grad_gaussians, g, grad_row, valid, lane)

    return rasterize_bwd
