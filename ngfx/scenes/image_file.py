"""Read and write single images for 2D fitting: PNG (8/16 bit), JPEG and OpenEXR.

`load_image` returns float32 pixels [H, W, C], row 0 at the top, with C = 3 (RGB) or 4 (RGBA, straight
alpha): gray files are repeated into RGB, gray+alpha becomes RGBA, palettes are expanded.

- PNG and JPEG: the stored (sRGB-encoded) values, divided by 255 or 65535, so in [0, 1]; `is_linear` False.
  Pillow decodes 16-bit RGB(A) PNGs only to 8 bits, so they are decoded twice (the high and the low byte of
  each sample, both unfiltered by Pillow's own decoder) and recombined: all 16 bits are kept. 16-bit
  gray+alpha PNGs (rare) keep Pillow's 8 bits.
- EXR (`pip install OpenEXR`, imported on first use): the first part's R, G, B (and A) channels, or Y for
  gray, as linear values, unclamped (HDR values above 1 and negative values are kept); `is_linear` True.

`save_image` writes 8-bit PNG (values clipped to [0, 1] and rounded) or EXR (float32 or half), atomically.
Every bad input (missing file, unknown extension, unreadable file, zero-size image, NaN/inf pixels) is an
`ngfx.errors.InputError` naming the file.
"""

import dataclasses
import io
import os
import secrets
from pathlib import Path

import numpy as np

from ngfx.atomic import write_atomic
from ngfx.errors import InputError

__all__ = ["IMAGE_SUFFIXES", "LoadedImage", "load_image", "save_image"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".exr")
_PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg")
_EXR_FIX = "install the OpenEXR package (pip install OpenEXR) to read and write .exr images"


@dataclasses.dataclass(frozen=True, eq=False)
class LoadedImage:
    """One image's pixels as float32 [H, W, C] (C 3 or 4, row 0 at the top) and how to read them."""

    pixels: np.ndarray
    """float32 [H, W, 3] RGB or [H, W, 4] RGBA (straight alpha); finite values."""
    is_linear: bool
    """True: linear radiance (EXR), display through an sRGB encode + clamp. False: display-encoded values in
    [0, 1] (PNG, JPEG), shown as they are."""
    source_bits: int
    """Bits per sample in the file: 8 or 16 for PNG, 8 for JPEG, 16 (half) or 32 (float) for EXR."""
    path: Path | None = None
    """Where it was read from."""

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[2])


def load_image(path) -> LoadedImage:
    """Read a PNG, JPEG or EXR file (module docstring). InputError when it is missing, of another format,
    unreadable, empty (zero width or height) or holds NaN / infinite values."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"unsupported image format '{path.suffix or '(no extension)'}'", file=path,
                         fix="use a .png, .jpg/.jpeg or .exr file")
    if not path.exists():
        raise InputError("no such file", file=path)
    if path.is_dir():
        raise InputError("is a folder, not an image file", file=path)
    if path.stat().st_size == 0:
        raise InputError("is an empty file (0 bytes)", file=path, fix="the file is damaged; export it again")
    pixels, bits = _read_exr(path) if suffix == ".exr" else _read_pillow(path)
    return LoadedImage(pixels=_checked(pixels, path), is_linear=suffix == ".exr", source_bits=bits, path=path)


def _checked(pixels: np.ndarray, path: Path) -> np.ndarray:
    """float32 [H, W, 3|4] with H, W > 0 and only finite values, else InputError."""
    if pixels.ndim != 3 or pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise InputError(f"the image has zero size ({'x'.join(str(s) for s in pixels.shape[:2][::-1])})",
                         file=path, fix="export a non-empty image")
    bad = ~np.isfinite(pixels)
    if bad.any():
        y, x, c = (int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"{int(bad.sum())} pixel values are NaN or infinite (the first at x={x}, y={y}, "
                         f"channel {c})", file=path, fix="replace them with finite values and export it again")
    return np.ascontiguousarray(pixels, dtype=np.float32)


def _read_pillow(path: Path) -> tuple[np.ndarray, int]:
    """PNG / JPEG through Pillow: float32 [H, W, 3|4] in [0, 1] and the bits per sample."""
    from PIL import Image  # imageio's dependency, installed with ngfx

    try:
        with Image.open(path) as im:
            rawmode = im.tile[0].args if im.tile else None
            if isinstance(rawmode, tuple):
                rawmode = rawmode[0]
            if rawmode in ("RGB;16B", "RGBA;16B"):
                return _read_png16(path, rawmode), 16
            bits = 16 if im.mode.startswith("I;16") or rawmode == "LA;16B" else 8
            return _pillow_pixels(im), bits
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - broken files raise OSError, SyntaxError, zlib/struct errors...
        raise InputError(f"is not a readable {_kind(path)} file ({_reason(e)})", file=path,
                         fix="the file is damaged or truncated; export it again") from None


def _pillow_pixels(im) -> np.ndarray:
    """An open Pillow image (8-bit modes, I;16 gray) as float32 RGB or RGBA in [0, 1]."""
    if im.mode.startswith("I;16") or im.mode == "I":  # 16-bit gray (I: older Pillows widen it to 32 bits)
        gray = np.asarray(im).astype(np.float32) / 65535.0
        return np.repeat(np.clip(gray, 0.0, 1.0)[..., None], 3, axis=-1)
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode in ("LA", "PA") or (im.mode in ("L", "1") and "transparency" in im.info):
        im = im.convert("RGBA")
    elif im.mode not in ("RGB", "RGBA"):
        im = im.convert("RGB")  # L, 1, CMYK and YCbCr JPEGs
    return np.asarray(im).astype(np.float32) / 255.0


def _read_png16(path: Path, rawmode: str) -> np.ndarray:
    """A 16-bit RGB(A) PNG at full precision. Pillow's '<mode>;16B' unpacker keeps each big-endian sample's
    first (high) byte and '<mode>;16L' its second (low) byte; both see the same 48/64-bit pixels, so the
    PNG filters are undone alike, and hi * 256 + lo is the stored sample."""
    from PIL import Image

    mode = rawmode.split(";")[0]
    planes = []
    for variant in (f"{mode};16B", f"{mode};16L"):
        with Image.open(path) as im:
            im.tile = [tile._replace(args=variant) if hasattr(tile, "_replace") else (*tile[:3], variant)
                       for tile in im.tile]  # Pillow < 11: plain tuples
            im.load()
            planes.append(np.asarray(im).astype(np.uint32))
    return ((planes[0] << 8) | planes[1]).astype(np.float32) / 65535.0


def _read_exr(path: Path) -> tuple[np.ndarray, int]:
    """The first part's R, G, B[, A] (or Y[, A]) channels as float32 and their bits (16 half, 32 float)."""
    OpenEXR = _openexr(path)
    try:
        with OpenEXR.File(str(path), separate_channels=True) as f:
            channels = {name: ch.pixels for name, ch in f.channels().items()}
    except Exception as e:  # noqa: BLE001 - OpenEXR raises RuntimeError / its own errors for bad files
        raise InputError(f"is not a readable EXR file ({_reason(e)})", file=path,
                         fix="the file is damaged or truncated; export it again") from None
    names = ["R", "G", "B"] if all(n in channels for n in "RGB") else ["Y"] * 3 if "Y" in channels else None
    if names is None:
        found = ", ".join(sorted(channels)) or "none"
        raise InputError(f"has no R, G, B or Y channels (found: {found})", file=path,
                         fix="export the image with RGB channels")
    names += ["A"] if "A" in channels else []
    planes = [np.asarray(channels[n]) for n in names]
    if any(p.shape != planes[0].shape or p.ndim != 2 for p in planes):
        raise InputError("has subsampled or mismatched colour channels", file=path,
                         fix="export it with full-resolution RGB channels")
    bits = 16 if all(p.dtype == np.float16 for p in planes) else 32
    return np.stack([p.astype(np.float32) for p in planes], axis=-1), bits


def _openexr(path):
    try:
        import OpenEXR
    except ImportError:
        raise InputError("reading or writing EXR images needs the OpenEXR package", file=path,
                         fix=_EXR_FIX) from None
    return OpenEXR


def _kind(path: Path) -> str:
    return {".jpg": "JPEG", ".jpeg": "JPEG"}.get(path.suffix.lower(), path.suffix.lstrip(".").upper())


def _reason(error: Exception) -> str:
    """A few words for why a file could not be read: the innermost error's first line."""
    while (error.__cause__ or error.__context__) is not None:
        error = error.__cause__ or error.__context__
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:120]


def save_image(path, pixels, *, exr_dtype: str = "float32") -> None:
    """Write float pixels [H, W], [H, W, 1|3|4] (row 0 at the top) to `path`, atomically.

    .png: 8-bit, values clipped to [0, 1] and rounded (write display-encoded values: tone-map linear images
    first). .exr: the values as they are, as float32 or half (`exr_dtype` "float32" / "float16"), channels
    Y, RGB or RGBA, ZIP-compressed. `pixels`: a numpy array or a CPU tensor without grad."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".exr"):
        raise InputError(f"cannot write '{path.suffix or '(no extension)'}' images", file=path,
                         fix="write a .png or .exr file")
    image = np.asarray(pixels, dtype=np.float32)
    image = image[..., None] if image.ndim == 2 else image
    if image.ndim != 3 or image.shape[-1] not in (1, 3, 4) or 0 in image.shape:
        raise ValueError(f"pixels must be [H, W] or [H, W, 1|3|4] with H, W > 0, got {image.shape}")
    if suffix == ".png":
        write_atomic(path, [_png_bytes(image)], what="the image")
    else:
        _write_exr(path, image, exr_dtype)


def _png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    values = np.rint(np.clip(np.nan_to_num(image), 0.0, 1.0) * 255.0).astype(np.uint8)
    values = values[..., 0] if values.shape[-1] == 1 else values
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_exr(path: Path, image: np.ndarray, exr_dtype: str) -> None:
    """EXR through a temporary file in the target's folder, renamed over it (the same atomicity as
    `write_atomic`: readers see the old file or the complete new one)."""
    if exr_dtype not in ("float32", "float16"):
        raise ValueError(f"exr_dtype must be 'float32' or 'float16', got {exr_dtype!r}")
    OpenEXR = _openexr(path)
    values = np.ascontiguousarray(image.astype(exr_dtype))
    names = {1: "Y", 3: "RGB", 4: "RGBA"}[values.shape[-1]]
    channels = {n: np.ascontiguousarray(values[..., i]) for i, n in enumerate(names)}
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp.exr")
    try:
        with OpenEXR.File(header, channels) as f:
            f.write(str(temporary))
        os.replace(temporary, path)
    except BaseException as e:  # never leave the temporary file behind
        temporary.unlink(missing_ok=True)
        if isinstance(e, (OSError, RuntimeError)):
            raise InputError(f"cannot write the image ({_reason(e)})", file=path,
                             fix="check that the folder exists and is writable") from None
        raise
