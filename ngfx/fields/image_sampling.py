"""Image <-> uv: the training image as a bilinear function of continuous uv, and a field rendered over a uv
region at any resolution.

uv convention, used by every image-field function in ngfx: u = (x + 0.5) / W and v = (y + 0.5) / H at the
centre of pixel (x, y) of a W x H image, so [0, 1]^2 covers the image exactly, u points right and v points
down (row 0, the top row, at v = 0.5 / H). The field's input is the point (u, v).

Targets between pixel centres are bilinear in the four nearest pixels; beyond the outermost centres (the
half-pixel border) the edge pixels are repeated, so the target is continuous on all of [0, 1]^2.
"""

import numpy as np
import torch

from ngfx.scenes.image_file import LoadedImage

__all__ = ["ImageTargets", "pixel_uv", "render_image_field", "to_display"]


class ImageTargets:
    """The pixels of `image` on `device`, as [H * W, C] rows: uint8 for 8-bit display-encoded files (exact:
    their values are k / 255, a quarter of the float32 bytes for gigapixel images), float32 otherwise."""

    def __init__(self, image: LoadedImage, device):
        self.width, self.height, self.channels = image.width, image.height, image.channels
        pixels = torch.from_numpy(image.pixels.reshape(-1, self.channels))
        self.as_bytes = image.source_bits == 8 and not image.is_linear
        if self.as_bytes:
            pixels = torch.round(pixels * 255).to(torch.uint8)
        self.rows = pixels.to(device)

    def _values(self, index: torch.Tensor) -> torch.Tensor:
        values = self.rows[index]
        return values.float() / 255 if self.as_bytes else values

    def at_pixels(self, index: torch.Tensor) -> torch.Tensor:
        """float32 [K, C] at flat pixel indices y * W + x (int64 [K])."""
        return self._values(index)

    def sample(self, uv: torch.Tensor) -> torch.Tensor:
        """Bilinear float32 [B, C] targets at uv [B, 2] in [0, 1]^2 (module docstring)."""
        x = uv[:, 0] * self.width - 0.5  # pixel-centre coordinates: centre of pixel i is at i
        y = uv[:, 1] * self.height - 0.5
        x0, y0 = torch.floor(x), torch.floor(y)
        fx, fy = (x - x0)[:, None], (y - y0)[:, None]
        x0, y0 = x0.long(), y0.long()
        xs = torch.stack([x0, x0 + 1]).clamp_(0, self.width - 1)  # the edge clamp: border pixels repeat
        ys = torch.stack([y0, y0 + 1]).clamp_(0, self.height - 1) * self.width
        corners = self._values(torch.stack([ys[0] + xs[0], ys[0] + xs[1], ys[1] + xs[0], ys[1] + xs[1]]))
        top = torch.lerp(corners[0], corners[1], fx)
        bottom = torch.lerp(corners[2], corners[3], fx)
        return torch.lerp(top, bottom, fy)


def pixel_uv(index: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """uv [K, 2] float32 of the centres of the pixels with flat indices y * width + x (int64 [K])."""
    x, y = index % width, index // width
    return torch.stack([(x.float() + 0.5) / width, (y.float() + 0.5) / height], dim=1)


@torch.no_grad()
def render_image_field(field, width: int, height: int, *, region=(0.0, 0.0, 1.0, 1.0),
                       chunk: int = 1 << 18) -> torch.Tensor:
    """The field drawn as a width x height image [H, W, C] float32 (on the field's device) covering the uv
    rectangle region = (u0, v0, u1, v1): output pixel (i, j) samples u = u0 + (i + 0.5) (u1 - u0) / width,
    v = v0 + (j + 0.5) (v1 - v0) / height. uv outside [0, 1] repeat the image's edge (the encoding clamps).
    Evaluated in chunks of whole rows, about `chunk` points each; values as the field outputs them (linear for linear images: see
    `to_display`)."""
    if width < 1 or height < 1 or chunk < 1:
        raise ValueError(f"need width, height and chunk >= 1, got {width}, {height}, {chunk}")
    u0, v0, u1, v1 = (float(r) for r in region)
    device = field.device
    us = u0 + (torch.arange(width, device=device, dtype=torch.float64) + 0.5) * ((u1 - u0) / width)
    vs = v0 + (torch.arange(height, device=device, dtype=torch.float64) + 0.5) * ((v1 - v0) / height)
    out = torch.empty((height * width, field.n_outputs), dtype=torch.float32, device=device)
    rows = max(1, chunk // width)  # whole rows per chunk
    for start in range(0, height, rows):
        v = vs[start:start + rows]
        uv = torch.stack([us.expand(v.shape[0], width), v[:, None].expand(v.shape[0], width)], dim=-1)
        out[start * width:(start + v.shape[0]) * width] = field(uv.reshape(-1, 2).float())
    return out.view(height, width, field.n_outputs)


def to_display(pixels, is_linear: bool):
    """Display-ready values in [0, 1] (torch tensor or numpy array, same type back): linear values through
    the sRGB transfer function (IEC 61966-2-1) after clamping, display-encoded ones only clamped. Alpha, the
    fourth channel, is never encoded."""
    lib = torch if isinstance(pixels, torch.Tensor) else np
    values = lib.clip(pixels, 0.0, 1.0)
    if not is_linear:
        return values
    encoded = lib.where(values <= 0.0031308, 12.92 * values, 1.055 * values ** (1 / 2.4) - 0.055)
    if values.shape[-1] == 4:
        join = torch.cat if lib is torch else np.concatenate
        encoded = join([encoded[..., :3], values[..., 3:]], -1)
    return encoded
