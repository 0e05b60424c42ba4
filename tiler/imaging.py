"""Pixel work on numpy arrays: tile encoding, JPEG decoding, blank-tile detection.

Pixels are HxWx3 RGB, or HxWx4 RGBX where the pyramid builder decodes a slide's JPEG
tiles itself: libjpeg-turbo converts YCbCr to four bytes a pixel about 5 % faster than
to three on tissue (nearly twice as fast on blank glass), and Pillow keeps RGB images
four bytes a pixel anyway, so the builder's regions stay RGBX from the decoder to the
encoder. The X byte is 255.

Decoding goes through simplejpeg (libjpeg-turbo straight into a numpy array),
JPEG encoding through imagecodecs (libjpeg-turbo from a numpy view), WebP and
reductions through Pillow.
"""

from __future__ import annotations

import io

import imagecodecs
import numpy as np
import simplejpeg
from PIL import Image

from tiler import hardening as _hardening  # noqa: F401 - untrusted-input settings first
from tiler.deepzoom import TileOptions

#: Pillow's mode (and raw mode) for pixels of 3 and 4 bytes.
_PILLOW_MODES = {3: "RGB", 4: "RGBX"}


def encode_tile(pixels: np.ndarray, options: TileOptions) -> bytes:
    """Encode HxWx3 RGB or HxWx4 RGBX uint8 pixels (a view of a larger array will do)
    as the tile format of `options`.

    JPEG is libjpeg-turbo's plain encode with Pillow's settings (accurate DCT, 4:2:0,
    standard tables scaled by quality): byte for byte what Pillow writes for the same
    pixels (tests check it), from either pixel layout, with no image object and no
    row unpacking per tile. Not simplejpeg: it encodes with the fast DCT whatever it is
    told, up to 1.3 dB below a plain encode on small flat tiles."""
    if options.format == "jpeg":
        rgbx = pixels.shape[2] == 4
        data = imagecodecs.jpeg8_encode(
            pixels,
            level=options.quality,
            subsampling=(2, 2),
            colorspace="RGBA" if rgbx else None,
            outcolorspace="YCBCR" if rgbx else None,
        )
        return bytes(data)  # the same object: typed, not copied
    buffer = io.BytesIO()
    pillow_image(pixels).save(buffer, "WEBP", quality=options.quality, method=2)
    return buffer.getvalue()


def pillow_image(pixels: np.ndarray) -> Image.Image:
    """A Pillow RGB (or RGBX) image of HxWx3 (HxWx4) uint8 pixels, straight from them:
    a window of a larger array (rows strided, pixels packed) needs no copy or crop first.

    Pillow's `fromarray` would fill a new image with zeros, then unpack the whole
    array into it. Here an RGB window's rows are unpacked once from the array's
    buffer, and an RGBX window is not copied at all: Pillow maps its rows in place."""
    height, width, channels = pixels.shape
    base = pixels.base if isinstance(pixels.base, np.ndarray) else pixels
    if (
        pixels.dtype != np.uint8
        or pixels.strides[1:] != (channels, 1)
        or base.dtype != np.uint8
        or not base.flags.c_contiguous
    ):
        pixels = base = np.ascontiguousarray(pixels, dtype=np.uint8)
    stride = pixels.strides[0]
    start = pixels.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    mode = _PILLOW_MODES[channels]
    if channels == 4:
        # Pillow maps whole strides: the last row's must lie in the buffer too.
        if start + height * stride > base.nbytes:
            base = np.array(pixels, order="C")  # a copy whose rows are packed
            start, stride = 0, width * channels
        mapped = base.reshape(-1)[start : start + height * stride]
        return Image.frombuffer(mode, (width, height), mapped, "raw", mode, stride, 1)
    # The bytes from the first pixel to the last, as one flat run of the array's
    # buffer that Pillow reads row by row with the array's stride.
    window = base.data.cast("B")[start : start + (height - 1) * stride + channels * width]
    image = Image.new(mode, (width, height), None)
    image.frombytes(window, "raw", (mode, stride, 1))
    return image


def decode_jpeg(data: bytes, channels: int = 3) -> np.ndarray:
    """Decode a baseline colour JPEG to HxWx3 RGB, or HxWx4 RGBX with `channels=4`
    (accurate DCT and upsampling: the same RGB either way)."""
    pixels: np.ndarray = simplejpeg.decode_jpeg(
        data, colorspace="RGBX" if channels == 4 else "RGB", fastdct=False, fastupsample=False
    )
    return pixels


def uniform_colour(pixels: np.ndarray) -> bytes | None:
    """The colour of a single-colour tile (blank glass, which can share one encoding),
    as the bytes of its three channels in the array's dtype, or None. `pixels` is
    HxWx3 (uint8 or uint16) or HxWx4 RGBX uint8, and may be a view of a larger array."""
    first: bytes = pixels[0, 0].tobytes()
    height, width, channels = pixels.shape
    if pixels.strides[:2] == (0, 0):  # one pixel broadcast (`assemble`): uniform as made
        return first[: 3 * pixels.itemsize]
    # Tissue almost always differs at one of a few spread-out pixels: answer cheaply.
    for y, x in ((height - 1, width - 1), (height // 2, width // 2), (0, width - 1)):
        if pixels[y, x].tobytes() != first:
            return None
    colour = first[: 3 * pixels.itemsize]
    if channels == 4 and pixels.dtype == np.uint8:
        # One 32-bit word a pixel: numpy compares words, not bytes.
        words = pixels.view(np.uint32)
        return colour if bool((words == words[0, 0]).all()) else None
    # Rows as runs of values (no copy while pixels are packed): numpy then compares
    # long runs, not three values at a time as on the HxWx3 view.
    rows = pixels.reshape(height, width * channels)
    pattern = np.frombuffer(first * width, pixels.dtype)
    return colour if bool((rows == pattern).all()) else None
