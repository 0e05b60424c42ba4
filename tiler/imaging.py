"""Pixel work on numpy arrays: tile encoding, JPEG decoding, blank-tile detection.

Decoding goes through simplejpeg (libjpeg-turbo straight into a numpy array);
encoding through Pillow.
"""

from __future__ import annotations

import io

import numpy as np
import simplejpeg
from PIL import Image

from tiler import hardening as _hardening  # noqa: F401 - untrusted-input settings first
from tiler.deepzoom import TileOptions


def encode_tile(rgb: np.ndarray, options: TileOptions) -> bytes:
    """Encode HxWx3 uint8 pixels as the tile format of `options`."""
    return encode_image(Image.fromarray(rgb), options)


def encode_image(image: Image.Image, options: TileOptions) -> bytes:
    """Encode an RGB image with Pillow's libjpeg-turbo and its defaults (4:2:0): the
    plain encode that tiles are held to (simplejpeg's TurboJPEG path can land 1 dB
    below it on flat tiles)."""
    buffer = io.BytesIO()
    if options.format == "jpeg":
        image.save(buffer, "JPEG", quality=options.quality)
    else:
        image.save(buffer, "WEBP", quality=options.quality, method=2)
    return buffer.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
    """Decode a baseline RGB JPEG to HxWx3 uint8 (accurate DCT and upsampling)."""
    pixels: np.ndarray = simplejpeg.decode_jpeg(
        data, colorspace="RGB", fastdct=False, fastupsample=False
    )
    return pixels


def uniform_image_colour(image: Image.Image) -> bytes | None:
    """`uniform_colour` for a Pillow image, without converting it."""
    width, height = image.size
    first = image.getpixel((0, 0))
    for xy in ((width - 1, height - 1), (width // 2, height // 2), (width - 1, 0)):
        if image.getpixel(xy) != first:
            return None
    colour = bytes(first)  # type: ignore[arg-type]
    # One packed copy and a memcmp: faster here than getextrema's three band passes.
    return colour if image.tobytes() == colour * (width * height) else None


def uniform_colour(rgb: np.ndarray) -> bytes | None:
    """The colour of a single-colour tile (blank glass, which can share one encoding),
    or None. `rgb` must be C-contiguous."""
    first = rgb[0, 0]
    height, width = rgb.shape[:2]
    # Tissue almost always differs at one of a few spread-out pixels: answer cheaply.
    for y, x in ((height - 1, width - 1), (height // 2, width // 2), (0, width - 1)):
        if not (rgb[y, x] == first).all():
            return None
    colour = first.tobytes()
    return colour if rgb.tobytes() == colour * (height * width) else None
