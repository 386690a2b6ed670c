"""Write a 3DGS PLY with another tool's writer (gsplat 1.5.3's `export_splats`), for the "third-party PLY renders
correctly" check, plus a scene JSON that views it through the fixture's own cameras.

    python tools/make_third_party_ply.py --gsplat-site /tmp/gsite --out /tmp/garden3p

The Gaussians are the garden fixture's points (../shared/data/gsplat-garden) with INRIA's initial scales
(3 nearest neighbours), opacity 0.7, colours as SH DC and small random higher bands (degree 3). Nothing here
is committed: the output is derived from the shared data.
"""

import argparse
import importlib.util
import json
import math
import os

import numpy as np
import torch

from ngfx.cli.bench_splat_scenes import GARDEN, knn_log_scales

C0 = 0.28209479177387814


def load_exporter(site: str):
    """gsplat's exporter module alone (it needs only numpy and torch, no CUDA build)."""
    spec = importlib.util.spec_from_file_location("gsplat_exporter", os.path.join(site, "gsplat", "exporter.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gsplat-site", required=True, help="a folder where gsplat 1.5.3 is installed (--target)")
    parser.add_argument("--garden", default=GARDEN)
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args()
    with np.load(args.garden) as data:
        means = torch.as_tensor(data["means3d"], dtype=torch.float32)
        rgb = torch.as_tensor(data["colors"], dtype=torch.float32) / 255.0
        viewmats, Ks = data["viewmats"], data["Ks"]
        width, height = int(data["width"]), int(data["height"])
    n = means.shape[0]
    g = torch.Generator().manual_seed(0)
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=-1)
    sh0 = ((rgb - 0.5) / C0)[:, None, :]
    shn = 0.02 * torch.randn(n, 15, 3, generator=g)
    opacity_logits = torch.full((n,), math.log(0.7 / 0.3))
    os.makedirs(args.out, exist_ok=True)
    ply = os.path.join(args.out, "garden_gsplat.ply")
    load_exporter(args.gsplat_site).export_splats(means, knn_log_scales(means), quats, opacity_logits, sh0, shn,
                                                  format="ply", save_to=ply)
    cameras = [{"name": f"fixture{i}", "K": np.asarray(Ks[i]).tolist(), "width": width, "height": height,
                "T_camera_world": np.asarray(viewmats[i]).tolist()} for i in range(len(Ks))]
    scene = {"nodes": [{"name": "garden", "type": "gaussians", "path": "garden_gsplat.ply"}],
             "cameras": cameras, "up": [0.0, -1.0, 0.0], "background": [0.0, 0.0, 0.0]}
    with open(os.path.join(args.out, "scene.json"), "w") as f:
        json.dump(scene, f, indent=1)
    print(f"wrote {ply} ({n:,} Gaussians) and scene.json")


if __name__ == "__main__":
    main()
