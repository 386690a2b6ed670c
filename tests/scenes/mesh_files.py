"""Tiny mesh files written by the tests themselves (so mesh loading is tested without shared data).

The unit square in z = 0, split into two triangles (or one quad), facing +z, with UVs = (x, y), and a
4x8 texture whose rows are distinct colours (row 0, the top, is pure red).
"""

import base64
import json
import struct
from pathlib import Path

import numpy as np

SQUARE = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float32)
TRIANGLES = np.array([[0, 1, 2], [0, 2, 3]])
COLORS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]], dtype=np.float32)
TEXTURE = np.zeros((4, 8, 3), dtype=np.uint8)
TEXTURE[0] = [255, 0, 0]
TEXTURE[1] = [0, 255, 0]
TEXTURE[2] = [0, 0, 255]
TEXTURE[3] = [255, 255, 255]


def write_textured_obj(folder: Path, *, quads: bool = False, name: str = "square") -> Path:
    """OBJ + MTL + PNG: UVs per vertex = (x, y); one quad face or two triangles."""
    import imageio.v3 as iio

    iio.imwrite(folder / f"{name}.png", TEXTURE)
    (folder / f"{name}.mtl").write_text(f"newmtl paper\nKd 1 1 1\nmap_Kd {name}.png\n")
    lines = [f"mtllib {name}.mtl"] + [f"v {x:g} {y:g} {z:g}" for x, y, z in SQUARE]
    lines += [f"vt {x:g} {y:g}" for x, y, _ in SQUARE] + ["usemtl paper"]
    faces = [[0, 1, 2, 3]] if quads else TRIANGLES.tolist()
    lines += ["f " + " ".join(f"{i + 1}/{i + 1}" for i in face) for face in faces]
    path = folder / f"{name}.obj"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_ply(path: Path) -> Path:
    """ASCII PLY with per-vertex colours (uchar) and normals (+z)."""
    header = ["ply", "format ascii 1.0", f"element vertex {len(SQUARE)}"]
    header += [f"property float {a}" for a in ("x", "y", "z", "nx", "ny", "nz")]
    header += [f"property uchar {c}" for c in ("red", "green", "blue")]
    header += [f"element face {len(TRIANGLES)}", "property list uchar int vertex_indices", "end_header"]
    rows = [f"{x:g} {y:g} {z:g} 0 0 1 " + " ".join(str(int(255 * c)) for c in rgb) for (x, y, z), rgb in
            zip(SQUARE, COLORS)]
    rows += ["3 " + " ".join(map(str, face)) for face in TRIANGLES]
    path.write_text("\n".join(header + rows) + "\n")
    return path


def write_stl(path: Path) -> Path:
    """Binary STL of the two triangles (facet normals +z)."""
    blob = bytearray(b"ngfx test".ljust(80, b" ") + struct.pack("<I", len(TRIANGLES)))
    for face in TRIANGLES:
        blob += struct.pack("<3f", 0, 0, 1) + SQUARE[face].astype("<f4").tobytes() + b"\0\0"
    path.write_bytes(bytes(blob))
    return path


def write_off(path: Path) -> Path:
    rows = ["OFF", f"{len(SQUARE)} {len(TRIANGLES)} 0"] + [" ".join(f"{v:g}" for v in p) for p in SQUARE]
    rows += ["3 " + " ".join(map(str, face)) for face in TRIANGLES]
    path.write_text("\n".join(rows) + "\n")
    return path


def write_gltf(folder: Path, name: str = "square") -> Path:
    """glTF 2.0 with an embedded buffer, TEXCOORD_0 in glTF's convention (v down) and a PNG texture."""
    import imageio.v3 as iio

    iio.imwrite(folder / f"{name}.png", TEXTURE)
    uv_gltf = np.stack([SQUARE[:, 0], 1 - SQUARE[:, 1]], 1).astype(np.float32)  # glTF: (0, 0) = top-left
    indices = TRIANGLES.astype(np.uint16).ravel()
    blob = SQUARE.tobytes() + uv_gltf.tobytes() + indices.tobytes()
    views = [(0, 48), (48, 32), (80, 12)]
    gltf = {
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "TEXCOORD_0": 1}, "indices": 2, "material": 0}]}],
        "materials": [{"pbrMetallicRoughness": {"baseColorTexture": {"index": 0}}}],
        "textures": [{"source": 0}], "images": [{"uri": f"{name}.png"}],
        "buffers": [{"byteLength": len(blob),
                     "uri": "data:application/octet-stream;base64," + base64.b64encode(blob).decode()}],
        "bufferViews": [{"buffer": 0, "byteOffset": o, "byteLength": n} for o, n in views],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 4, "type": "VEC3", "min": [0, 0, 0], "max": [1, 1, 0]},
            {"bufferView": 1, "componentType": 5126, "count": 4, "type": "VEC2"},
            {"bufferView": 2, "componentType": 5123, "count": 6, "type": "SCALAR"},
        ],
    }
    path = folder / f"{name}.gltf"
    path.write_text(json.dumps(gltf))
    return path
