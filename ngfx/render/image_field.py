"""Drawing a fitted image field (an `ngfx train IMAGE --method image` run) at any resolution and region.

The viewer (`ngfx view RUN`) and headless renders (`ngfx render RUN --out x.png`) share `ImageFieldRenderer`:
it renders the field afresh over a uv rectangle (u right, v down, `ngfx.viewer.pan_zoom`) at the pixel
count asked for, with the fused encoding + MLP kernel (`ngfx.kernels.networks.field`) in one launch per
frame, or the module's chunked path when the run was built on the torch reference ops. Display images
tone-map linear (EXR) fields with the sRGB transfer (`to_display`), put RGBA fields over a grey checker,
and show `background` where the region reaches past the image's edges.
"""

from pathlib import Path

import numpy as np
import torch

from ngfx.errors import InputError
from ngfx.fields.image_fit import load_image_run
from ngfx.fields.image_sampling import render_image_field, to_display

__all__ = ["ImageFieldRenderer", "is_image_run", "parse_region", "render_image_run", "output_size"]

_CHECKER_PX = 16  # side of a checker square behind RGBA images, in output pixels


def is_image_run(path) -> bool:
    """Whether `path` is a run folder of the image-fitting method (it holds image.json)."""
    path = Path(path)
    return path.is_dir() and (path / "image.json").is_file()


class ImageFieldRenderer:
    """One image run's field, ready to render (module docstring)."""

    def __init__(self, run_dir, *, background=(0.1, 0.1, 0.12)):
        self.field, self.meta = load_image_run(run_dir)
        self.field.eval()
        self.background = tuple(float(c) for c in background)
        with torch.no_grad():  # the compute copies once (float16 runs: rounded once, not per frame)
            self._table = self.field.grid.compute_table().detach().contiguous()
            self._params = self.field.mlp.compute_params().detach().contiguous()

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the trained image in pixels."""
        return self.meta.width, self.meta.height

    def render(self, region=(0.0, 0.0, 1.0, 1.0), width: int | None = None,
               height: int | None = None) -> torch.Tensor:
        """Field values [height, width, C] float32 over `region` (default: the whole image at its own size),
        as trained (linear for EXR runs)."""
        width, height = width or self.meta.width, height or self.meta.height
        if self.field.ops == "kernels":
            from ngfx.kernels.networks.field import render_field_image

            return render_field_image(self._table, self._params, self.field.grid_cfg, self.field.mlp_cfg,
                                      region, width, height)
        return render_image_field(self.field, width, height, region=region)

    def display(self, region=(0.0, 0.0, 1.0, 1.0), width: int | None = None,
                height: int | None = None) -> np.ndarray:
        """The uint8 [height, width, 3] image a screen shows for `region` (module docstring)."""
        values = to_display(self.render(region, width, height), self.meta.is_linear).cpu().numpy()
        h, w = values.shape[:2]
        rgb = values[..., :3]
        if values.shape[-1] == 4:  # straight alpha over a checker
            y, x = np.mgrid[0:h, 0:w]
            checker = np.where(((x // _CHECKER_PX + y // _CHECKER_PX) % 2)[..., None] == 0, 0.8, 0.6)
            rgb = rgb * values[..., 3:] + checker * (1.0 - values[..., 3:])
        rgb = rgb.copy()
        cols, rows = _inside(region[0], region[2], w), _inside(region[1], region[3], h)
        rgb[~rows[:, None] | ~cols[None, :]] = self.background
        return np.rint(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)


def _inside(lo: float, hi: float, n: int) -> np.ndarray:
    """Which of n pixel centres spread over [lo, hi] fall inside the image's [0, 1]."""
    centres = lo + (hi - lo) * (np.arange(n) + 0.5) / n
    return (centres >= 0.0) & (centres <= 1.0)


def parse_region(text: str | None) -> tuple[float, float, float, float]:
    """'u0,v0,u1,v1' -> a uv rectangle with u0 < u1 and v0 < v1 (None: the whole image)."""
    if text is None:
        return 0.0, 0.0, 1.0, 1.0
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 4 or not all(np.isfinite(values)) or not (values[0] < values[2] and values[1] < values[3]):
        raise InputError(f"{text!r} is not a rectangle u0,v0,u1,v1 with u0 < u1 and v0 < v1", field="--region",
                         fix="e.g. 0.25,0.25,0.5,0.5 for the second quarter across and down")
    return values


def output_size(image_size, region, width: int | None, height: int | None) -> tuple[int, int]:
    """--width / --height, the other one following the region's aspect in image pixels; neither given: the
    region at the image's own resolution (at least 1 x 1)."""
    span_w, span_h = (region[2] - region[0]) * image_size[0], (region[3] - region[1]) * image_size[1]
    if width is None and height is None:
        return max(1, round(span_w)), max(1, round(span_h))
    if height is None:
        return width, max(1, round(width * span_h / span_w))
    if width is None:
        return max(1, round(height * span_w / span_h)), height
    return width, height


def render_image_run(run_dir, out, *, width=None, height=None, region=None, background=None) -> tuple[int, int]:
    """Render an image run to `out`: .png (display-encoded, 8-bit) or .exr (the field's values, float32; linear
    for EXR runs). Returns the size written."""
    from ngfx.render.output import save_png
    from ngfx.scenes.image_file import save_image

    suffix = Path(out).suffix.lower()
    if suffix not in (".png", ".exr"):
        raise InputError(f"image runs render to .png or .exr, not '{suffix or out}'", file=out, field="--out",
                         fix="e.g. --out image.png")
    box = parse_region(region)
    renderer = ImageFieldRenderer(run_dir, **({} if background is None else {"background": background}))
    width, height = output_size(renderer.size, box, width, height)
    if suffix == ".png":
        save_png(out, renderer.display(box, width, height))
    else:
        save_image(out, renderer.render(box, width, height).cpu().numpy())
    return width, height
