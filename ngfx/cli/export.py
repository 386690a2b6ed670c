"""`ngfx export SCENE --out MESH`: the scene's visible meshes at one time, baked into one mesh file."""

from ngfx.atomic import check_output_folder
from ngfx.cli.common import add_scene_argument

__all__ = ["add_arguments", "main"]


def add_arguments(parser) -> None:
    add_scene_argument(parser)
    parser.add_argument("--time", type=float, default=0.0, help="scene time in seconds")
    parser.add_argument("--out", required=True, help="mesh file: .ply .obj .glb .gltf .stl .off")


def main(args) -> int:
    from ngfx.render.export import bake_meshes, write_mesh
    from ngfx.render.sources import load_source

    check_output_folder(args.out)
    mesh = bake_meshes(load_source(args.scene), args.time)
    write_mesh(mesh, args.out)
    print(f"wrote {args.out} ({len(mesh.vertices):,} vertices, {len(mesh.faces):,} triangles)")
    return 0
