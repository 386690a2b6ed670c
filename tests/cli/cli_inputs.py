"""Inputs the CLI tests write themselves (meshes, scene files, camera paths) and an in-process `ngfx` runner.

Sizes are tiny (64x48) so that the whole tests/cli run stays well under two minutes on two CPU cores.
`run_ngfx` calls `ngfx.cli.main.main` in this process (one Taichi start for all tests) and captures output at
the file-descriptor level, so text that native libraries (open3d, ffmpeg, Taichi) print is seen too.
"""

import dataclasses
import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np

W, H = 64, 48
SIZE = ["--width", str(W), "--height", str(H)]

# a unit cube about the origin, outward counter-clockwise triangles (OBJ indices start at 1)
CUBE_OBJ = """# unit cube written by tests/cli
v -0.5 -0.5 -0.5
v 0.5 -0.5 -0.5
v 0.5 0.5 -0.5
v -0.5 0.5 -0.5
v -0.5 -0.5 0.5
v 0.5 -0.5 0.5
v 0.5 0.5 0.5
v -0.5 0.5 0.5
f 1 4 3
f 1 3 2
f 5 6 7
f 5 7 8
f 1 5 8
f 1 8 4
f 2 3 7
f 2 7 6
f 1 2 6
f 1 6 5
f 4 8 7
f 4 7 3
"""

LIGHT_NODE = {"name": "sun", "type": "light", "direction": [-0.3, -1.0, -0.5]}


@dataclasses.dataclass
class Result:
    code: int
    out: str
    err: str


def run_ngfx(capfd, *argv) -> Result:
    """`ngfx argv...` in this process; its exit status and everything written to stdout and stderr."""
    from ngfx.cli.main import main

    capfd.readouterr()  # drop anything printed before
    code = main([str(a) for a in argv])
    out, err = capfd.readouterr()
    return Result(code, out, err)


def assert_one_line_error(result: Result, *needles: str) -> str:
    """Exit status 2 and exactly one stderr line `ngfx: error: ...` holding every needle; returns the line."""
    lines = result.err.strip().splitlines()
    assert result.code == 2, f"exit status {result.code}, stderr: {result.err!r}"
    assert "Traceback" not in result.err, result.err
    assert len(lines) == 1, f"stderr is not one line: {result.err!r}"
    line = lines[0]
    assert line.startswith("ngfx: error: "), line
    missing = [n for n in needles if n not in line]
    assert not missing, f"message lacks {missing}: {line!r}"
    return line


def write_cube_obj(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CUBE_OBJ)
    return path


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    return path


def camera_dict(*, width: int = W, height: int = H, focal: float = 50.0) -> dict:
    """A scene-file camera (Camera.to_dict form) at z = -5 looking at the origin along +z (OpenCV)."""
    T_camera_world = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 5], [0, 0, 0, 1]]
    return {"width": width, "height": height, "K": [[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]],
            "T_camera_world": T_camera_world}


def gl_pose(x: float = 0.0, y: float = 0.0, z: float = 3.0) -> list[float]:
    """16 row-major floats: an OpenGL camera-to-world at (x, y, z), axis-aligned, looking down -z."""
    return [1, 0, 0, x, 0, 1, 0, y, 0, 0, 1, z, 0, 0, 0, 1]


def write_camera_path(path: Path, poses, *, fov: float = 50.0, width: int = W, height: int = H,
                      seconds: float = 1.0, render_times=None, **top) -> Path:
    """A nerfstudio camera_path.json: one frame per pose (vertical fov in degrees), optional render_time."""
    frames = [{"camera_to_world": pose, "fov": fov, "aspect": width / height} for pose in poses]
    for frame, t in zip(frames, render_times or []):
        frame["render_time"] = t
    data = {"camera_type": "perspective", "render_width": width, "render_height": height, "seconds": seconds,
            "camera_path": frames, **top}
    return write_json(path, data)


def read_png(path) -> np.ndarray:
    return np.asarray(iio.imread(path))


def background_fraction(image: np.ndarray, rgb) -> float:
    """Fraction of pixels equal to the uint8 colour `rgb` (within one level)."""
    diff = np.abs(image[..., :3].astype(np.int16) - np.asarray(rgb, dtype=np.int16)).max(axis=-1)
    return float((diff <= 1).mean())


def uint8_rgb(rgb) -> tuple[int, ...]:
    """A [0, 1] colour as the uint8 triple the PNG writer produces."""
    return tuple(int(v) for v in np.rint(np.clip(np.asarray(rgb, dtype=np.float64), 0, 1) * 255))
