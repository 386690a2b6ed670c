"""A synthetic multi-view capture of a Scene, rendered with the render core and written as a Blender /
D-NeRF folder, so that `ngfx train` (and any NeRF tool) can fit it and be scored against ground truth.

Layout (what `ngfx.scenes.captures.load_capture` reads as "blender", or "dnerf" when timed):

    OUT/transforms_train.json, OUT/transforms_val.json   {"camera_angle_x": ..., "frames": [...]}
    OUT/train/r_000.png ...,   OUT/val/r_000.png ...     RGB, the scene's background behind the objects

Each frame's "file_path" is "./train/r_NNN" (no extension, as Blender writes) and its "transform_matrix"
the OpenGL camera-to-world (`Camera.to_opengl`). Cameras: `n_views` points of a Fibonacci lattice on the
upper part of a sphere (elevations 12-65 degrees above the plane perpendicular to the scene's up, azimuths
spread by the golden angle) around the centre of `bounds`, at the distance `orbit_for_bounds` picks so that
the bounds fit the image, all looking at the centre; square pixels, principal point at the image centre.
Camera k is held out (val) when k % held_out_every == 0 (0 = none held out; at least one view is kept for
training).

Time: static captures render the scene at t = 0 (no "time" key). With `times` (scene seconds), every camera
is rendered at every time (a multi-view video: n_views x len(times) frames), and each frame carries D-NeRF's
"time" = t / the scene's duration, in [0, 1] (t itself when the scene has no duration).
"""

import json
import math
from pathlib import Path

import numpy as np

from ngfx.atomic import write_atomic
from ngfx.render.output import save_png
from ngfx.render.paths import orbit_for_bounds
from ngfx.scenes.camera import Camera

__all__ = ["capture_cameras", "render_capture"]

_GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))


def capture_cameras(bounds, *, n_views: int, width: int, height: int, up=(0.0, 1.0, 0.0),
                    fov_y_deg: float = 45.0, elevation_deg=(12.0, 65.0)) -> list[Camera]:
    """The capture's cameras around `bounds` = (min, max) (module docstring), named r_000, r_001, ..."""
    if n_views < 1:
        raise ValueError(f"n_views must be >= 1, got {n_views}")
    lo, hi = (np.asarray(b, dtype=np.float64) for b in bounds)
    ring = orbit_for_bounds(lo, hi, frames=1, up=up, width=width, height=height, fov_y_deg=fov_y_deg,
                            elevation_deg=elevation_deg[1])  # the highest view needs the most room
    distance = float(np.linalg.norm(ring[0].position - 0.5 * (lo + hi)))
    centre = 0.5 * (lo + hi)
    u = np.asarray(up, dtype=np.float64) / np.linalg.norm(up)
    ref = np.array([0.0, 0.0, 1.0]) if abs(u[2]) < 0.9 else np.array([0.0, -1.0, 0.0])
    a0 = ref - u * (ref @ u)
    a0 /= np.linalg.norm(a0)
    a90 = np.cross(u, a0)
    s_lo, s_hi = (math.sin(math.radians(e)) for e in elevation_deg)
    cameras = []
    for k in range(n_views):
        s = s_lo + (s_hi - s_lo) * (k + 0.5) / n_views  # uniform in sin(elevation): even area on the sphere
        c, azimuth = math.sqrt(1.0 - s * s), k * _GOLDEN_ANGLE
        direction = c * (math.cos(azimuth) * a0 + math.sin(azimuth) * a90) + s * u
        cameras.append(Camera.look_at(centre + distance * direction, centre, u, width=width, height=height,
                                      fov_y_deg=fov_y_deg, near=ring[0].near, far=10.0 * distance, name=f"r_{k:03d}"))
    return cameras


def render_capture(scene, out_dir, *, n_views: int, width: int, height: int, times=None,
                   held_out_every: int = 8, bounds=None, renderer=None, progress=None) -> Path:
    """Render `scene` from `n_views` cameras (at t = 0, or at each of `times`) into the Blender / D-NeRF
    folder `out_dir` (module docstring); returns it. bounds: the (min, max) to frame (default: the scene's at
    the first time); renderer: a SceneRenderer of `scene` to reuse; progress(done, total): called per image."""
    from ngfx.render.core import SceneRenderer

    out = Path(out_dir)
    timed = times is not None
    times = [float(t) for t in times] if timed else [0.0]
    if not times:
        raise ValueError("times is empty")
    bounds = bounds if bounds is not None else scene.bounds(times[0])
    if bounds is None:
        raise ValueError("the scene has nothing visible to frame")
    cameras = capture_cameras(bounds, n_views=n_views, width=width, height=height, up=scene.up)
    renderer = renderer or SceneRenderer(scene)
    duration = float(getattr(scene, "duration_s", 0.0) or 0.0)
    held = [held_out_every > 0 and k % held_out_every == 0 for k in range(n_views)]
    if all(held):
        held[-1] = False
    frames = {"train": [], "val": []}
    total, done = n_views * len(times), 0
    for k, camera in enumerate(cameras):
        split = "val" if held[k] else "train"
        (out / split).mkdir(parents=True, exist_ok=True)
        for j, t in enumerate(times):
            name = f"r_{k:03d}" if not timed else f"r_{k:03d}_t{j:03d}"
            rgb = renderer.render(camera, t).rgb
            save_png(out / split / f"{name}.png", rgb.clamp(0.0, 1.0).cpu().numpy())
            frame = {"file_path": f"./{split}/{name}", "transform_matrix": camera.to_opengl().tolist()}
            if timed:
                frame["time"] = t / duration if duration > 0 else t
            frames[split].append(frame)
            done += 1
            if progress is not None:
                progress(done, total)
    angle_x = 2.0 * math.atan(0.5 * width / cameras[0].fx)
    for split, items in frames.items():
        if not items:
            (out / f"transforms_{split}.json").unlink(missing_ok=True)
            continue
        data = {"camera_angle_x": angle_x, "frames": items}
        write_atomic(out / f"transforms_{split}.json", [(json.dumps(data, indent=1) + "\n").encode()],
                     what="the capture's camera file")
    return out
