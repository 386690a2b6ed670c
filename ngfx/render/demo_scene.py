"""The built-in demo scene, generated in code (no files): a checkered ground, a few coloured primitives,
one animated node (a spinning, bobbing torus), two directional lights and a default camera.

It is described in the scene-file schema itself, so `ngfx render demo` exercises the same loader as a
user's JSON, and `demo_scene_dict()` saved to disk is a valid scene file. World up is +y; units metres.
"""

import math

__all__ = ["demo_scene_dict", "build_demo_scene", "DURATION_S"]

DURATION_S = 4.0


def _quat_y(deg: float) -> list[float]:
    """wxyz quaternion of a rotation by `deg` about +y."""
    h = math.radians(deg) / 2
    return [math.cos(h), 0.0, math.sin(h), 0.0]


def _spin_track(turns: int = 1, keys: int = 9) -> dict:
    """A LINEAR rotation track about +y: quarter-turn keys so slerp takes the intended way round."""
    times = [DURATION_S * k / (keys - 1) for k in range(keys)]
    return {"property": "rotation_wxyz", "interpolation": "LINEAR", "times": times,
            "values": [_quat_y(360.0 * turns * k / (keys - 1)) for k in range(keys)]}


def demo_scene_dict() -> dict:
    """The demo scene as a scene-file dictionary."""
    checker = {"procedural": "checker", "squares": 12, "colors": [[0.86, 0.86, 0.82], [0.32, 0.34, 0.38]]}
    nodes = [
        {"name": "ground", "type": "mesh", "primitive": {"shape": "plane", "size": [8.0, 8.0]},
         "material": {"color": [1.0, 1.0, 1.0], "texture": checker}},
        {"name": "torus", "type": "mesh", "primitive": {"shape": "torus", "major_radius": 0.7, "minor_radius": 0.22},
         "material": {"color": [0.95, 0.55, 0.15]},
         "transform": {"translation": [0.0, 1.1, 0.0], "rotation_wxyz": [1, 0, 0, 0], "scale": [1, 1, 1]},
         "tracks": [_spin_track(),
                    {"property": "translation", "interpolation": "CUBICSPLINE", "times": [0, 1, 2, 3, 4],
                     "values": [[0, 1.1, 0], [0, 1.35, 0], [0, 1.1, 0], [0, 0.85, 0], [0, 1.1, 0]]}],
         "children": [{"name": "moon", "type": "mesh", "primitive": {"shape": "sphere", "radius": 0.15},
                       "material": {"color": [0.9, 0.9, 0.95]},
                       "transform": {"translation": [1.2, 0.0, 0.0]}}]},
        {"name": "sphere", "type": "mesh", "primitive": {"shape": "sphere", "radius": 0.55},
         "material": {"color": [0.2, 0.45, 0.9]}, "transform": {"translation": [-1.7, 0.55, 0.6]}},
        {"name": "box", "type": "mesh", "primitive": {"shape": "box", "size": [0.9, 0.9, 0.9]},
         "material": {"color": [0.85, 0.2, 0.25],
                      "texture": {"procedural": "stripes", "stripes": 6, "colors": [[0.9, 0.25, 0.3], [0.98, 0.9, 0.85]]}},
         "transform": {"translation": [1.7, 0.45, 0.5], "rotation_wxyz": _quat_y(30.0)}},
        {"name": "pillar", "type": "mesh", "primitive": {"shape": "cylinder", "radius": 0.35, "height": 1.4},
         "material": {"color": [0.3, 0.75, 0.4]}, "transform": {"translation": [0.2, 0.7, -1.8]}},
        {"name": "sun", "type": "light", "direction": [-0.4, -1.0, -0.6], "color": [1.0, 0.97, 0.9], "intensity": 0.85},
        {"name": "fill", "type": "light", "direction": [0.6, -0.3, 0.8], "color": [0.55, 0.6, 0.7], "intensity": 0.35},
    ]
    camera = {"name": "default", "width": 1280, "height": 720,
              "K": [[869.0, 0, 640.0], [0, 869.0, 360.0], [0, 0, 1]],
              "T_camera_world": _look_at_rows(eye=(0.0, 2.6, 6.2), target=(0.0, 0.6, 0.0)),
              "near": 0.05, "far": 100.0}
    return {"nodes": nodes, "cameras": [camera], "time": {"duration_s": DURATION_S},
            "background": [0.62, 0.72, 0.85], "up": [0.0, 1.0, 0.0]}


def _look_at_rows(eye, target) -> list[list[float]]:
    from ngfx.scenes.camera import Camera

    return Camera.look_at(eye, target, (0, 1, 0), width=16, height=9).T_camera_world.tolist()


def build_demo_scene():
    """The demo as a loaded Scene (payloads generated in memory)."""
    from ngfx.scenes.scene_file import scene_from_dict

    return scene_from_dict(demo_scene_dict(), base_dir=".", file="<demo scene>")
