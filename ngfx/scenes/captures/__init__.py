"""Multi-view captures -> frames with Cameras in ngfx's convention (`Capture`), and their pixels on demand.

`load_capture(path)` detects the format (instant-ngp/nerfstudio transforms.json, Blender and D-NeRF,
COLMAP, LLFF, CMU-Panoptic) and runs its loader; `load_images` / `load_frame_image` read the pixels. The
format loaders are imported by `load_capture` only when used.
"""

from ngfx.scenes.captures.capture import Capture, CaptureFrame, LoadOptions
from ngfx.scenes.captures.detect import detect_format, load_capture
from ngfx.scenes.captures.images import FrameImage, load_frame_image, load_images

__all__ = ["Capture", "CaptureFrame", "FrameImage", "LoadOptions", "detect_format", "load_capture",
           "load_frame_image", "load_images"]
