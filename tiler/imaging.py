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
    return encode_image(rgb_image(rgb), options)


def rgb_image(rgb: np.ndarray) -> Image.Image:
    """A Pillow RGB image of HxWx3 uint8 pixels, unpacked straight from them: a window
    of a larger array (rows strided, pixels packed) needs no copy or crop first.

    Pillow's `fromarray` would fill a new image with zeros, then unpack the whole
    array into it; the builder encodes a tile from a region of a level, so unpacking
    just the tile's rows from the region's buffer is one pass over its pixels."""
    height, width = rgb.shape[:2]
    base = rgb.base if isinstance(rgb.base, np.ndarray) else rgb
    if (
        rgb.dtype != np.uint8
        or rgb.strides[1:] != (3, 1)
        or base.dtype != np.uint8
        or not base.flags.c_contiguous
    ):
        rgb = base = np.ascontiguousarray(rgb, dtype=np.uint8)
    stride = rgb.strides[0]
    # The bytes from the first pixel to the last, as one flat run of the array's
    # buffer that the raw decoder reads row by row with the array's stride.
    start = rgb.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    span = (height - 1) * stride + 3 * width
    image = Image.new("RGB", (width, height), None)
    image.frombytes(base.data.cast("B")[start : start + span], "raw", ("RGB", stride, 1))
    return image


def encode_image(image: Image.Image, options: TileOptions) -> bytes:
    """Encode an RGB image with Pillow's libjpeg-turbo and its defaults (4:2:0): the
    plain encode that tiles are held to. Not simplejpeg: its bundled libjpeg-turbo
    (3.1) writes other bytes than Pillow's (3.2) for the same pixels, and with its
    default fast DCT lands up to 1 dB lower on flat tiles; nor libvips, whose JPEG
    bytes differ and cost more per tile (`benchmarks.tiling_stages`)."""
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


def uniform_colour(rgb: np.ndarray) -> bytes | None:
    """The colour of a single-colour tile (blank glass, which can share one encoding),
    or None. `rgb` may be a view of a larger array."""
    first = rgb[0, 0].tobytes()
    height, width = rgb.shape[:2]
    # Tissue almost always differs at one of a few spread-out pixels: answer cheaply.
    for y, x in ((height - 1, width - 1), (height // 2, width // 2), (0, width - 1)):
        if rgb[y, x].tobytes() != first:
            return None
    # Rows as runs of bytes (no copy while pixels are packed): numpy then compares long
    # runs, not three bytes at a time as on the HxWx3 view.
    rows = rgb.reshape(height, width * 3)
    pattern = np.frombuffer(first * width, np.uint8)
    return first if bool((rows == pattern).all()) else None
