"""Suite `raster`: the triangle rasterizer alone, and a whole `ngfx render` frame (render + shading +
compositing + readback to host uint8), on one mesh at one resolution, over 8 views around it."""

import os

import numpy as np
import torch

from ngfx.errors import InputError

__all__ = ["run", "table"]

DEFAULT_MESH = os.path.join("..", "shared", "data", "meshes", "armadillo.obj")


def load_bench_mesh(path: str | None):
    """A TriMesh from a mesh file or an .npz (vertices, faces); a generated 100k-triangle torus otherwise."""
    from ngfx.scenes.mesh import TriMesh

    path = path or (DEFAULT_MESH if os.path.exists(DEFAULT_MESH) else None)
    if path is None:
        from ngfx.scenes.primitives import torus

        return torus(major_segments=500, minor_segments=100), "generated torus"
    if path.endswith(".npz"):
        if not os.path.isfile(path):
            raise InputError("no such file", file=path, fix="give --mesh an existing mesh or .npz")
        with np.load(path) as data:
            missing = [k for k in ("vertices", "faces") if k not in data]
            if missing:
                raise InputError(f"has no array '{missing[0]}'", file=path, field=missing[0],
                                 fix="save the .npz with 'vertices' [V,3] and 'faces' [F,3]")
            return TriMesh(vertices=data["vertices"], faces=data["faces"], source=path), path
    from ngfx.scenes.mesh_io import load_mesh

    return load_mesh(path), path


def _views(mesh, width: int, height: int, n: int = 8, fov_y_deg: float = 40.0):
    """n views around the mesh, close enough that its largest extent spans about 90% of the image height."""
    import math

    from ngfx.render.paths import orbit

    lo, hi = mesh.bounds()
    half = 0.5 * float((hi - lo).max())
    distance = half / 0.9 / math.tan(math.radians(fov_y_deg) / 2) + half
    return orbit(0.5 * (lo + hi), distance, frames=n, up=(0, 1, 0), elevation_deg=10.0, width=width,
                 height=height, fov_y_deg=fov_y_deg, near=0.05 * distance, far=10 * distance)


def run(args):
    from ngfx.kernels import runtime
    from ngfx.kernels.trimesh import rasterize
    from ngfx.render.mesh_renderable import MeshRenderable
    from ngfx.scenes.renderable import RenderContext
    from ngfx.cli.bench import median_ms

    mesh, source = load_bench_mesh(args.mesh)
    dev = runtime.device()
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    renderable = MeshRenderable(mesh, dev)
    cams = _views(mesh, args.width, args.height)
    rows = []
    for k, cam in enumerate(cams):
        T = torch.as_tensor(cam.T_camera_world, dtype=torch.float32, device=dev)
        verts_cam = renderable.verts @ T[:3, :3].T + T[:3, 3]
        intr = (cam.fx, cam.fy, cam.cx, cam.cy)
        raster = lambda: rasterize(verts_cam, renderable.faces, intr, cam.width, cam.height,  # noqa: E731
                                   near=cam.near, far=cam.far)
        ctx = RenderContext(device=dev)
        frame = lambda: (renderable.render(cam, 0.0, ctx).rgb.clamp(0, 1) * 255).to(torch.uint8).cpu()  # noqa: E731
        coverage = float((raster().face_ids >= 0).float().mean())
        r_ms, r_spread = median_ms(raster, repeats=args.repeats, warmup=args.warmup, sync=sync)
        f_ms, f_spread = median_ms(frame, repeats=max(5, args.repeats // 2), warmup=args.warmup, sync=sync)
        rows.append({"view": k, "coverage": coverage, "raster_ms": r_ms, "raster_spread_ms": r_spread,
                     "frame_ms": f_ms, "frame_spread_ms": f_spread})
    meta = {"mesh": source, "triangles": int(len(mesh.faces)), "width": args.width, "height": args.height,
            "raster_ms_median_of_views": float(np.median([r["raster_ms"] for r in rows])),
            "frame_ms_median_of_views": float(np.median([r["frame_ms"] for r in rows]))}
    return rows, meta


def table(record) -> str:
    lines = [f"raster bench: {record['mesh']} ({record['triangles']:,} triangles) at "
             f"{record['width']}x{record['height']} on {record['arch']} ({record['card']}), commit {record['commit']}",
             f"{'view':>4} {'coverage':>8} {'raster ms':>10} {'raster fps':>10} {'frame ms':>9} {'frame fps':>9}"]
    for r in record["rows"]:
        lines.append(f"{r['view']:>4} {r['coverage']:>8.3f} {r['raster_ms']:>10.3f} {1e3 / r['raster_ms']:>10.0f} "
                     f"{r['frame_ms']:>9.3f} {1e3 / r['frame_ms']:>9.0f}")
    rm, fm = record["raster_ms_median_of_views"], record["frame_ms_median_of_views"]
    lines.append(f"median over views: raster {rm:.3f} ms ({1e3 / rm:.0f} fps), frame {fm:.3f} ms ({1e3 / fm:.0f} fps)")
    return "\n".join(lines)
