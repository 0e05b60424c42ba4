"""Rendering a validated IIIF request (or a thumbnail) from a slide with Pillow.

Pixels are read at the slide level closest above the requested scale, so a
zoomed-out view decodes a small level, never the full resolution.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from app.core.errors import PayloadTooLargeError
from app.services.imaging.iiif import ImageRequest
from tiler import Slide

_TRANSPOSE = {
    90: Image.Transpose.ROTATE_270,  # IIIF turns clockwise, Pillow's names count anticlockwise
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


def read_scaled(
    slide: Slide, box: tuple[int, int, int, int], size: tuple[int, int], max_read_pixels: int
) -> Image.Image:
    """The level-0 `box` (x, y, w, h) of the slide, resized to `size`."""
    l0_x, l0_y, l0_w, l0_h = box
    out_w, out_h = size
    downsample = max(1.0, min(l0_w / out_w, l0_h / out_h))
    level = slide.best_level_for_downsample(downsample)
    l_downsample = slide.info.levels[level].downsample
    l_w, l_h = max(1, round(l0_w / l_downsample)), max(1, round(l0_h / l_downsample))
    if l_w * l_h > max_read_pixels:
        raise PayloadTooLargeError(
            f"this region needs {l_w * l_h} decoded pixels at the nearest slide level; "
            "ask for a smaller region or size"
        )
    image = Image.fromarray(slide.read_rgb((l0_x, l0_y), level, (l_w, l_h)))
    if image.size != (out_w, out_h):
        image = image.resize((out_w, out_h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "jpg":
        image.save(out, "JPEG", quality=85)
    elif fmt == "png":
        image.save(out, "PNG", compress_level=3)
    else:
        image.save(out, "WEBP", quality=80)
    return out.getvalue()


def render(slide: Slide, request: ImageRequest, max_read_pixels: int) -> bytes:
    image = read_scaled(
        slide,
        (request.l0_x, request.l0_y, request.l0_width, request.l0_height),
        (request.width, request.height),
        max_read_pixels,
    )
    if request.mirror:
        image = ImageOps.mirror(image)
    if request.rotation:
        image = image.transpose(_TRANSPOSE[request.rotation])
    if request.quality == "gray":
        image = image.convert("L")
    return encode(image, request.format)
