"""Cameras, and ngfx's one camera convention (the conventions page: read this once).

Convention
----------
- Extrinsics are world-to-camera, `T_camera_world` (4x4), in the **OpenCV** camera frame:
  +x right, +y down, +z forward (the viewing direction).
- Intrinsics `K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]` are in pixels. Pixel (i, j) (column i, row j)
  covers [i, i+1) x [j, j+1), so its **centre is (i + 0.5, j + 0.5)** and the ray through it is
  ((i + 0.5 - cx) / fx, (j + 0.5 - cy) / fy, 1) in the camera frame. Resizing by s scales fx, fy, cx, cy.
- Images are [H, W, C] arrays with row 0 at the top. Depth is camera-space z, in scene units.
- Time is in seconds of scene time (a scene's `time.duration_s` spans it).

Other conventions are converted at the edges, here and in the loaders:
- OpenGL / Blender / NeRF / nerfstudio camera-to-world (+x right, +y up, -z forward):
  `T_world_camera_cv = T_world_camera_gl @ diag(1, -1, -1, 1)` (and the same matrix converts back).
- A node-local render (see `ngfx.scenes.renderable`) passes a camera whose `T_camera_world` maps the node's
  frame into the camera; it may carry scale, so only its last row is checked.
"""

import dataclasses
import math

import numpy as np

from ngfx.errors import InputError

__all__ = ["Camera", "GL_FROM_CV", "intrinsics_from_fov"]

GL_FROM_CV = np.diag([1.0, -1.0, -1.0, 1.0])


def intrinsics_from_fov(width: int, height: int, *, fov_y_deg: float | None = None,
                        fov_x_rad: float | None = None) -> np.ndarray:
    """K for a centred principal point from a vertical FOV in degrees or a horizontal one in radians."""
    if (fov_y_deg is None) == (fov_x_rad is None):
        raise ValueError("give exactly one of fov_y_deg, fov_x_rad")
    if fov_y_deg is not None:
        f = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2)
    else:
        f = 0.5 * width / math.tan(fov_x_rad / 2)
    return np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], dtype=np.float64)


@dataclasses.dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera in the OpenCV convention (module docstring). Immutable: use `replace`."""

    K: np.ndarray
    width: int
    height: int
    T_camera_world: np.ndarray
    near: float = 0.01
    far: float = 1.0e4
    time: float | None = None
    name: str = ""

    def __post_init__(self):
        K = np.asarray(self.K, dtype=np.float64)
        T = np.asarray(self.T_camera_world, dtype=np.float64)
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "T_camera_world", T)
        self._validate()

    def _validate(self):
        where = f"camera '{self.name}'" if self.name else "camera"
        if not (isinstance(self.width, (int, np.integer)) and isinstance(self.height, (int, np.integer))):
            raise InputError(f"{where}: width and height must be integers", field="width")
        if self.width <= 0 or self.height <= 0:
            raise InputError(f"{where}: size {self.width}x{self.height} is not positive",
                             field="width" if self.width <= 0 else "height",
                             fix="give a width and height of at least 1 pixel")
        if self.K.shape != (3, 3) or not np.isfinite(self.K).all():
            raise InputError(f"{where}: K must be a finite 3x3 matrix", field="K")
        if self.K[0, 0] <= 0 or self.K[1, 1] <= 0:
            raise InputError(f"{where}: focal length fx={self.K[0, 0]:g}, fy={self.K[1, 1]:g} is not positive",
                             field="K", fix="give a positive focal length or field of view")
        if self.T_camera_world.shape != (4, 4) or not np.isfinite(self.T_camera_world).all():
            raise InputError(f"{where}: T_camera_world must be a finite 4x4 matrix", field="T_camera_world")
        if not np.allclose(self.T_camera_world[3], [0, 0, 0, 1]):
            raise InputError(f"{where}: T_camera_world's last row must be [0, 0, 0, 1]", field="T_camera_world")
        if not (0 < self.near < self.far):
            raise InputError(f"{where}: need 0 < near < far, got near={self.near}, far={self.far}", field="near")

    # --- intrinsics -------------------------------------------------------------------------------------
    fx = property(lambda self: float(self.K[0, 0]))
    fy = property(lambda self: float(self.K[1, 1]))
    cx = property(lambda self: float(self.K[0, 2]))
    cy = property(lambda self: float(self.K[1, 2]))

    @property
    def fov_y_deg(self) -> float:
        """Vertical field of view in degrees (for a centred principal point)."""
        return math.degrees(2 * math.atan(0.5 * self.height / self.fy))

    def resized(self, width: int, height: int) -> "Camera":
        """The same view at another resolution (K scaled per axis; exact under the +0.5 convention)."""
        sx, sy = width / self.width, height / self.height
        K = self.K.copy()
        K[0] *= sx
        K[1] *= sy
        return self.replace(K=K, width=int(width), height=int(height))

    def fitted(self, width: int, height: int) -> "Camera":
        """The same vertical field of view at another size, with square pixels kept square (a change of
        aspect ratio widens or narrows the horizontal view instead of stretching the image)."""
        s = height / self.height
        K = self.K.copy()
        K[0, 0], K[1, 1] = self.fx * s, self.fy * s
        K[0, 2], K[1, 2] = self.cx * width / self.width, self.cy * s
        return self.replace(K=K, width=int(width), height=int(height))

    def replace(self, **changes) -> "Camera":
        return dataclasses.replace(self, **changes)

    # --- extrinsics -------------------------------------------------------------------------------------
    @property
    def T_world_camera(self) -> np.ndarray:
        return np.linalg.inv(self.T_camera_world)

    @property
    def position(self) -> np.ndarray:
        """Camera centre in world coordinates."""
        return self.T_world_camera[:3, 3].copy()

    def to_opengl(self) -> np.ndarray:
        """Camera-to-world in the OpenGL/Blender convention."""
        return self.T_world_camera @ GL_FROM_CV

    @classmethod
    def from_opengl(cls, T_world_camera_gl, width: int, height: int, *, K=None, fov_y_deg=None, fov_x_rad=None,
                    **kwargs) -> "Camera":
        """From an OpenGL/Blender camera-to-world and either K or a field of view."""
        if K is None:
            K = intrinsics_from_fov(width, height, fov_y_deg=fov_y_deg, fov_x_rad=fov_x_rad)
        T_world_camera = np.asarray(T_world_camera_gl, dtype=np.float64) @ GL_FROM_CV
        return cls(K=K, width=width, height=height, T_camera_world=np.linalg.inv(T_world_camera), **kwargs)

    @classmethod
    def look_at(cls, eye, target, up=(0.0, 1.0, 0.0), *, width: int = 640, height: int = 480,
                fov_y_deg: float = 45.0, **kwargs) -> "Camera":
        """A camera at `eye` looking at `target`, with `up` (world) pointing up in the image."""
        eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
        forward = target - eye
        if np.linalg.norm(forward) == 0:
            raise InputError("camera eye and target coincide", field="eye")
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, up)
        if np.linalg.norm(right) < 1e-9:  # looking along `up`: any perpendicular will do
            right = np.cross(forward, [1.0, 0, 0] if abs(forward[0]) < 0.9 else [0, 0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        T_world_camera = np.eye(4)
        T_world_camera[:3, :3] = np.stack([right, down, forward], axis=1)
        T_world_camera[:3, 3] = eye
        K = intrinsics_from_fov(width, height, fov_y_deg=fov_y_deg)
        return cls(K=K, width=width, height=height, T_camera_world=np.linalg.inv(T_world_camera), **kwargs)

    # --- serialisation ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {"width": self.width, "height": self.height, "K": self.K.tolist(),
             "T_camera_world": self.T_camera_world.tolist(), "near": self.near, "far": self.far}
        if self.time is not None:
            d["time"] = self.time
        if self.name:
            d["name"] = self.name
        return d

    @classmethod
    def from_dict(cls, d: dict, *, file=None) -> "Camera":
        try:
            return cls(K=d["K"], width=d["width"], height=d["height"], T_camera_world=d["T_camera_world"],
                       near=d.get("near", 0.01), far=d.get("far", 1.0e4), time=d.get("time"),
                       name=d.get("name", ""))
        except KeyError as e:
            raise InputError(f"camera is missing {e.args[0]!r}", file=file, field=f"cameras.{e.args[0]}",
                             fix="cameras need width, height, K and T_camera_world") from None
        except InputError as e:
            raise InputError(e.problem, file=file, field=f"cameras.{e.field}", fix=e.fix) from None
