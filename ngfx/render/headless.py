"""Headless rendering: plan the frames (cameras and times) and write them through a FrameWriter.

`ngfx render`, `ngfx demo` and scripts share this; the viewer draws through the same SceneRenderer.
"""

import dataclasses

from ngfx.errors import InputError
from ngfx.render.camera_path_json import load_camera_path
from ngfx.render.output import FrameWriter
from ngfx.render.paths import orbit_for_bounds, spiral
from ngfx.scenes.camera import Camera

__all__ = ["DEFAULT_SIZE", "FramePlan", "default_size", "plan_frames", "render_frames"]

DEFAULT_SIZE = (1280, 720)  # for scenes without a camera


@dataclasses.dataclass
class FramePlan:
    cameras: list[Camera]
    times: list[float]
    fps: float


def default_size(scene, width: int | None, height: int | None, *, within: tuple[int, int] | None = None):
    """(width, height) of the frames when --width / --height are not both given: the scene's first camera's
    size and aspect (a trained run's capture cameras, so a 4:3 capture renders at 4:3, without margins), or
    with `within` (the viewer's window) that aspect scaled to fill the box; one given side keeps the aspect.
    Scenes without a camera get DEFAULT_SIZE for the missing sides."""
    if width and height:
        return int(width), int(height)
    if not scene.cameras:
        return int(width or DEFAULT_SIZE[0]), int(height or DEFAULT_SIZE[1])
    cam = scene.cameras[0]
    aspect = cam.width / cam.height
    if width:
        return int(width), max(1, round(width / aspect))
    if height:
        return max(1, round(height * aspect)), int(height)
    scale = min(within[0] / cam.width, within[1] / cam.height) if within else 1.0
    return max(1, round(cam.width * scale)), max(1, round(cam.height * scale))


def _times(n: int, duration_s: float, fixed: float | None) -> list[float]:
    """A fixed time, or a linear sweep over the scene's duration (one loop, last frame before the wrap)."""
    if fixed is not None:
        return [float(fixed)] * n
    return [duration_s * k / n for k in range(n)] if duration_s > 0 else [0.0] * n


def plan_frames(scene, *, camera_path: str | None = None, trajectory: str = "auto", frames: int | None = None,
                width: int | None = None, height: int | None = None, fps: float | None = None,
                time: float | None = None, default_frames: int = 60, bounds=None) -> FramePlan:
    """Cameras and times for a render: from a nerfstudio camera_path.json; for trajectory 'auto', the
    scene's first camera if it has one, else an orbit; 'orbit' / 'spiral' around the bounds (the scene's at
    the first frame's time unless `bounds` = (min, max) is given)."""
    if frames is not None and frames < 1:
        raise InputError(f"must be at least 1, got {frames}", field="--frames")
    if fps is not None and not fps > 0:
        raise InputError(f"must be a positive frame rate, got {fps}", field="--fps", fix="e.g. --fps 30")
    if camera_path:
        path = load_camera_path(camera_path, duration_s=scene.duration_s or None)
        if frames is not None and frames != len(path.cameras):
            raise InputError(f"the camera path has {len(path.cameras)} frames, not {frames}", field="--frames",
                             fix="drop --frames, or edit the camera path")
        cams = path.cameras
        if width or height:
            cams = [c.resized(width or c.width, height or c.height) for c in cams]
        times = [c.time for c in cams] if path.times is not None else _times(len(cams), scene.duration_s, time)
        if time is not None:
            times = [float(time)] * len(cams)
        return FramePlan(cams, [float(t) for t in times], float(fps or path.fps))
    n = frames or default_frames
    times = _times(n, scene.duration_s, time)
    w, h = default_size(scene, width, height)
    if trajectory == "auto" and scene.cameras:  # the scene's own camera, time running
        return FramePlan([scene.cameras[0].fitted(w, h)] * n, times, float(fps or 30.0))
    bounds = bounds if bounds is not None else scene.bounds(times[0])
    if bounds is None:
        raise InputError("the scene has nothing visible to frame", fix="check the nodes' visibility and files")
    cams = orbit_for_bounds(bounds[0], bounds[1], frames=n, up=scene.up, width=w, height=h)
    if trajectory == "spiral":
        c0 = cams[0]
        radius = float(((c0.position - 0.5 * (bounds[0] + bounds[1])) ** 2).sum() ** 0.5)
        cams = spiral(0.5 * (bounds[0] + bounds[1]), radius, frames=n, up=scene.up, width=w, height=h,
                      height_span=0.5 * radius, elevation_deg=20.0, near=c0.near, far=c0.far)
    return FramePlan(cams, times, float(fps or 30.0))


def render_frames(renderer, plan: FramePlan, out: str, *, background=None, depth: bool = False,
                  progress: bool = True, on_frame=None) -> str:
    """Render every planned frame into `out` (.mp4, .png or a folder); returns `out` once complete."""
    from tqdm import tqdm

    if str(out).lower().endswith(".png") and len(plan.cameras) != 1:
        raise InputError(f"a .png output holds one frame, but there are {len(plan.cameras)}", file=out,
                         fix="write .mp4 or a folder, or ask for one frame (--frames 1, no --camera-path)")
    with FrameWriter(out, fps=plan.fps, depth=depth) as writer:
        frames = tqdm(list(zip(plan.cameras, plan.times)), unit="frame", disable=not progress, desc="render",
                      dynamic_ncols=True)
        for camera, t in frames:
            result = renderer.render(camera, t, background=background)
            writer.write(result.rgb, result.depth if depth else None)
            if on_frame:
                on_frame()
    return out
