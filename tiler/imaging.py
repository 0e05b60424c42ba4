"""Pixel work on numpy arrays: tile encoding, JPEG decoding, box reductions.

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


def reduce_box(
    image: Image.Image,
    factor: int,
    last_column_weight: float = 1.0,
    last_row_weight: float = 1.0,
) -> Image.Image:
    """Mean of factor x factor blocks, the last column/row weighted by the share of a
    full pixel they cover.

    At an odd-sized level the last pixel covers less of the slide than the others;
    averaging it with full weight, level after level, skews the small levels (a 1x1
    level would not be the slide's mean colour). Weights < 1 apply only to the last
    column/row of `image`, so pass them only for a region touching the slide's edge.
    """
    reduced = image.reduce(factor)
    width, height = image.size
    columns = (width - 1) % factor + 1  # source columns in the last output column
    rows = (height - 1) % factor + 1
    if last_column_weight < 1.0 and columns > 1:
        strip = np.asarray(image.crop((width - columns, 0, width, height)))
        mean = weighted_reduce(strip, last_column_weight, last_row_weight, factor)
        reduced.paste(Image.fromarray(to_uint8(mean)), (reduced.width - 1, 0))
    if last_row_weight < 1.0 and rows > 1:
        strip = np.asarray(image.crop((0, height - rows, width, height)))
        mean = weighted_reduce(strip, last_column_weight, last_row_weight, factor)
        reduced.paste(Image.fromarray(to_uint8(mean)), (0, reduced.height - 1))
    return reduced


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Round half up, as Pillow's reductions do, so both paths agree on x.5."""
    rounded: np.ndarray = np.clip(np.floor(pixels + 0.5), 0, 255).astype(np.uint8)
    return rounded


def weighted_reduce(
    pixels: np.ndarray,
    last_column_weight: float = 1.0,
    last_row_weight: float = 1.0,
    factor: int = 2,
) -> np.ndarray:
    """Block mean in float64, without rounding, the last column/row weighted as given.

    For small levels, where rounding after every one of many reductions would add up,
    and for the edge strips of `reduce_box`."""
    height, width = pixels.shape[:2]
    out_h, out_w = -(-height // factor), -(-width // factor)
    wy = np.zeros(out_h * factor)
    wx = np.zeros(out_w * factor)
    wy[:height], wx[:width] = 1.0, 1.0
    wy[height - 1], wx[width - 1] = last_row_weight, last_column_weight
    padded = np.zeros((len(wy), len(wx), 3))
    padded[:height, :width] = pixels
    weights = wy[:, None] * wx[None, :]
    blocks = (out_h, factor, out_w, factor)
    num = (padded * weights[..., None]).reshape(*blocks, 3).sum((1, 3))
    den = weights.reshape(blocks).sum((1, 3))[..., None]
    mean: np.ndarray = num / den
    return mean


def resize_covering(
    rgb: np.ndarray, size: tuple[int, int], scale: tuple[float, float]
) -> np.ndarray:
    """Box-filter to `size` where each output pixel covers `scale` input pixels.

    At the slide's right/bottom edge the last output pixel covers less than a full
    `scale`; it is the mean of what remains, as in the built pyramid, instead of
    the input being stretched evenly over all output pixels."""
    out = np.empty((size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(rgb)
    height, width = rgb.shape[:2]
    for ox0, ox1, ix0, ix1 in _spans(size[0], width, scale[0]):
        for oy0, oy1, iy0, iy1 in _spans(size[1], height, scale[1]):
            part = image.resize(
                (ox1 - ox0, oy1 - oy0), Image.Resampling.BOX, box=(ix0, iy0, ix1, iy1)
            )
            out[oy0:oy1, ox0:ox1] = np.asarray(part)
    return out


def _spans(n_out: int, n_in: int, scale: float) -> list[tuple[int, int, float, float]]:
    """(out start, out end, in start, in end) for the whole output pixels and the partial one."""
    whole = min(n_out, int(n_in / scale + 1e-6))
    spans = []
    if whole > 0:
        spans.append((0, whole, 0.0, min(float(n_in), whole * scale)))
    if whole < n_out and whole * scale < n_in:
        spans.append((whole, n_out, whole * scale, float(n_in)))
    return spans


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
