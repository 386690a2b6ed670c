"""Taichi kernels of the tile-based Gaussian rasterizer (3DGS, Kerbl et al. 2023; REFERENCE 2.4, 2.5).

One thread per pixel, one 16x16 tile per 256-thread block: thread t draws pixel `lane = t % 256` of tile
`t // 256` (row-major inside the tile), sampled at its centre (px + 0.5, py + 0.5).
Per-Gaussian data comes packed in one row (fewer kernel arguments, one load per Gaussian):
    row = (mx, my, a, b, c, opacity, f_0 .. f_{F-1}, depth)      # C = F + 1 blended channels
with conic (a, b, c) = inverse 2D covariance (xx, xy, yy), power = -0.5 (a dx^2 + c dy^2) - b dx dy,
dx = mx - (px + 0.5). Depth is blended as channel F so the expected depth is differentiable.
Per-pixel output row: (blended C channels, T_final, median depth); ids: (n_contrib, last Gaussian id),
n_contrib = 1 + position of the last contributor in the tile's list (0 = none).

Variants, chosen statically from the backend (taichi.simt features differ per backend in 1.7.4):
- cpu: plain loops over the tile's list (no SharedArray on CPU); one gradient atomic per pair.
- vulkan / cuda: batches of 256 Gaussians staged in block shared memory, component-major scalar 2D
  arrays (Vulkan has no vector-typed shared arrays): geometry, a per-Gaussian power cutoff that skips
  the exp of pairs surely below 1/255, and the channels when they fit SHARED_BUDGET (else read from
  global memory). The backward loads only up to the tile's largest n_contrib.
- cuda: the forward leaves a tile once every pixel is saturated (block vote); with f32, the backward
  skips Gaussians past the warp's largest n_contrib and sums gradients over the warp with shuffles
  before one global atomic per warp and Gaussian (gsplat's scheme; REFERENCE 2.5).
"""

import functools
import types

from ngfx.kernels import runtime

__all__ = ["ALPHA_MAX", "ALPHA_MIN", "BLOCK", "GEO", "TILE", "T_MIN", "common_funcs", "make_forward_kernel",
           "staged_rows"]

TILE = 16  # tile side in pixels
BLOCK = TILE * TILE  # threads per tile, and Gaussians per shared-memory batch
ALPHA_MAX = 0.99  # keeps 1 - alpha >= 0.01, so the backward can divide T by it
ALPHA_MIN = 1.0 / 255.0  # contributions below one 8-bit step are skipped
T_MIN = 1e-4  # stop before a Gaussian that would leave less transmittance than this (= (1 - 0.99)^2)
GEO = 6  # mx, my, a, b, c, opacity
SHARED_BUDGET = 28 * 1024  # bytes of staged rows per block: fits CUDA's 48 KB and Vulkan's usual 32 KB
CUTOFF_MARGIN = 1e-3  # in power units: e^-0.001, a 0.1% margin on alpha, >> exp's relative error



@functools.cache
def common_funcs(dtype_name: str, n_chan: int, generation: int) -> types.SimpleNamespace:
    """@ti.func helpers shared by the forward and backward kernels of one dtype and channel count."""
    del generation
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)

    @ti.func
    def locate(t, tiles_x):
        """Tile, lane and pixel (column, row) of thread t."""
        tile, lane = t // BLOCK, t % BLOCK
        return tile, lane, (tile % tiles_x) * TILE + lane % TILE, (tile // tiles_x) * TILE + lane // TILE

    @ti.func
    def cutoff(opacity):
        """A power below which o e^power < 1/255 for sure: -ln(255 o) less a margin far above exp's
        rounding. Tested before the exp, it rejects the faint tail cheaply without changing which pairs
        are blended (the exact test still decides near the threshold)."""
        return -ti.log(dt(255.0) * opacity) - dt(CUTOFF_MARGIN)

    @ti.func
    def response(mx, my, a, b, c, opacity, cut, px, py):
        """(alpha, G = e^power, dx, dy, clamped) of one Gaussian at a pixel centre; alpha = 0 if skipped.
        `cut` is cutoff(opacity), or -inf where computing it per pair would cost more than it saves."""
        dx = mx - (ti.cast(px, dt) + 0.5)
        dy = my - (ti.cast(py, dt) + 0.5)
        power = -0.5 * (a * dx * dx + c * dy * dy) - b * dx * dy
        alpha, gauss, clamped = ti.cast(0.0, dt), ti.cast(0.0, dt), False
        if power <= 0.0 and power >= cut:  # power > 0 only for a conic that is not positive definite
            gauss = ti.exp(power)
            raw = opacity * gauss
            alpha = ti.min(dt(ALPHA_MAX), raw)  # dt(...): a bare literal would be rounded to f32
            clamped = raw > dt(ALPHA_MAX)
            if alpha < dt(ALPHA_MIN):
                alpha = 0.0
        return alpha, gauss, dx, dy, clamped

    @ti.func
    def geometry_grads(alpha, gauss, dx, dy, clamped, a, b, c, grad_alpha):
        """d loss / d (mx, my, a, b, c, opacity) of one pair; zero past the 0.99 clamp (alpha is flat there).
        b enters power once as -b dx dy, so its gradient carries no 1/2 (settled against autograd)."""
        g = ti.Vector.zero(dt, GEO)
        if not clamped:
            grad_power = alpha * grad_alpha  # alpha = o G and dG/dpower = G
            g = ti.Vector([-(a * dx + b * dy) * grad_power, -(b * dx + c * dy) * grad_power,
                           -0.5 * dx * dx * grad_power, -dx * dy * grad_power, -0.5 * dy * dy * grad_power,
                           gauss * grad_alpha], dt)
        return g

    @ti.func
    def channels(gaussians: ti.template(), g):
        """The C blended channels (features, depth) of Gaussian g, loaded one by one."""
        return ti.Vector([gaussians[g][GEO + k] for k in ti.static(range(n_chan))], dt)

    return types.SimpleNamespace(locate=locate, cutoff=cutoff, response=response,
                                 geometry_grads=geometry_grads, channels=channels)


def staged_rows(n_chan: int, dtype_name: str) -> int:
    """Values staged per Gaussian in shared memory: geometry, cutoff and, within budget, the channels."""
    with_channels = GEO + 1 + n_chan
    fits = with_channels * BLOCK * (4 if dtype_name == "f32" else 8) <= SHARED_BUDGET
    return with_channels if fits else GEO + 1


@functools.cache
def make_forward_kernel(dtype_name: str, n_features: int, arch_name: str, generation: int):
    """rasterize_fwd for ('f32' | 'f64', F, backend); see the module docstring for layouts."""
    ti = runtime.taichi()
    dt = getattr(ti, dtype_name)
    n_chan = n_features + 1
    row_t, pix_t = ti.types.vector(GEO + n_chan, dt), ti.types.vector(n_chan + 2, dt)
    lib = common_funcs(dtype_name, n_chan, generation)
    locate, cutoff, response, channels = lib.locate, lib.cutoff, lib.response, lib.channels
    shared = arch_name in ("cuda", "vulkan")
    vote = arch_name == "cuda"  # block-wide votes are CUDA-only in Taichi 1.7.4
    n_stage = staged_rows(n_chan, dtype_name)

    @ti.func
    def blend(alpha, feat, T, acc, n_contrib, last_id, median, g, rel_pos):
        """One front-to-back step (REFERENCE 2.4): stop *before* a Gaussian that leaves T < 1e-4."""
        T_next = T * (1.0 - alpha)
        stop = T_next < dt(T_MIN)
        if not stop:
            acc += feat * (alpha * T)
            if T > 0.5 and T_next <= 0.5:  # median depth: where T first drops to <= 0.5
                median = feat[n_chan - 1]
            T, n_contrib, last_id = T_next, rel_pos + 1, g
        return T, acc, n_contrib, last_id, median, stop

    @ti.kernel
    def rasterize_fwd(gaussians: ti.types.ndarray(row_t, ndim=1),  # [N] packed rows (module docstring)
                      tile_ranges: ti.types.ndarray(ti.math.ivec2, ndim=1),  # [T] [start, end) in point_ids
                      point_ids: ti.types.ndarray(ti.i32, ndim=1),  # [P] Gaussian ids by tile, then depth
                      tiles_x: ti.i32, width: ti.i32, height: ti.i32,
                      out_pix: ti.types.ndarray(pix_t, ndim=2),  # [H, W] out: channels, T_final, median
                      out_ids: ti.types.ndarray(ti.math.ivec2, ndim=2)):  # [H, W] out: n_contrib, last id
        ti.loop_config(block_dim=BLOCK)
        for t in range(tile_ranges.shape[0] * BLOCK):
            tile, lane, px, py = locate(t, tiles_x)
            start, end = tile_ranges[tile][0], tile_ranges[tile][1]
            T, acc, median = ti.cast(1.0, dt), ti.Vector.zero(dt, n_chan), ti.cast(0.0, dt)
            n_contrib, last_id = 0, -1
            done = px >= width or py >= height  # pixels outside the image still help load batches
            if ti.static(shared):
                ids_sh = ti.simt.block.SharedArray((BLOCK,), ti.i32)
                # component-major [value, slot]: lane-contiguous writes, broadcast reads; scalar for Vulkan
                rows_sh = ti.simt.block.SharedArray((n_stage, BLOCK), dt)
                for b in range((end - start + BLOCK - 1) // BLOCK):
                    if ti.static(vote):  # a barrier, and the tile leaves once every pixel is saturated
                        if ti.simt.block.sync_all_nonzero(ti.cast(done, ti.i32)):
                            break
                    else:  # a barrier: the previous batch is consumed before it is overwritten
                        ti.simt.block.sync()
                    pos = start + b * BLOCK + lane
                    if pos < end:
                        g = point_ids[pos]
                        ids_sh[lane] = g
                        for k in ti.static(range(n_stage)):
                            if ti.static(k < GEO):
                                rows_sh[k, lane] = gaussians[g][k]
                            elif ti.static(k == GEO):  # once per Gaussian and tile, not per pixel
                                rows_sh[k, lane] = cutoff(gaussians[g][GEO - 1])
                            else:
                                rows_sh[k, lane] = gaussians[g][k - 1]
                    ti.simt.block.sync()
                    if not done:
                        for j in range(ti.min(BLOCK, end - start - b * BLOCK)):
                            alpha, _, _, _, _ = response(rows_sh[0, j], rows_sh[1, j], rows_sh[2, j],
                                                         rows_sh[3, j], rows_sh[4, j], rows_sh[5, j],
                                                         rows_sh[GEO, j], px, py)
                            if alpha > 0.0:
                                feat = ti.Vector.zero(dt, n_chan)
                                if ti.static(n_stage > GEO + 1):
                                    for c in ti.static(range(n_chan)):
                                        feat[c] = rows_sh[GEO + 1 + c, j]
                                else:
                                    feat = channels(gaussians, ids_sh[j])
                                T, acc, n_contrib, last_id, median, done = blend(
                                    alpha, feat, T, acc, n_contrib, last_id, median, ids_sh[j], b * BLOCK + j)
                                if done:
                                    break
            elif not done:
                for pos in range(start, end):
                    g = point_ids[pos]
                    alpha, _, _, _, _ = response(gaussians[g][0], gaussians[g][1], gaussians[g][2],
                                                 gaussians[g][3], gaussians[g][4], gaussians[g][5],
                                                 -ti.math.inf, px, py)
                    if alpha > 0.0:
                        T, acc, n_contrib, last_id, median, done = blend(
                            alpha, channels(gaussians, g), T, acc, n_contrib, last_id, median, g, pos - start)
                        if done:
                            break
            if px < width and py < height:
                out_pix[py, px] = ti.Vector([acc[k] for k in ti.static(range(n_chan))] + [T, median], dt)
                out_ids[py, px] = ti.Vector([n_contrib, last_id], ti.i32)

    return rasterize_fwd
