"""Pixel work on numpy arrays: tile encoding, JPEG decoding, box reductions.

Decoding goes through simplejpeg (libjpeg-turbo straight into a numpy array);
encoding through Pillow.
"""

from __future__ import annotations

import io

import numpy as np
import simplejpeg
from PIL import Image

from tiler.deepzoom import TileOptions

MEDIA_TYPES = {"jpeg": "image/jpeg", "webp": "image/webp"}


def encode_tile(rgb: np.ndarray, options: TileOptions) -> bytes:
    """Encode HxWx3 uint8 pixels as the tile format of `options` (Pillow's libjpeg-turbo
    with its defaults, 4:2:0, as fast here as any binding and the plain encode to match)."""
    buffer = io.BytesIO()
    image = Image.fromarray(rgb)
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


def reduce_by_two(
    rgb: np.ndarray, last_column_weight: float = 1.0, last_row_weight: float = 1.0
) -> np.ndarray:
    """2x2 box mean, weighting the last column/row by the share of a full pixel they cover.

    At an odd-sized level the last pixel covers less of the slide than the others;
    averaging it with full weight, level after level, skews the small levels (a 1x1
    level would not be the slide's mean colour). Weights < 1 apply only to the
    last column/row of `rgb`, so pass them only for a region touching the slide's edge.
    """
    reduced = np.array(Image.fromarray(rgb).reduce(2))
    height, width = rgb.shape[:2]
    if last_column_weight < 1.0 and width % 2 == 0 and width > 1:
        strip = weighted_reduce(rgb[:, -2:], last_column_weight, last_row_weight)
        reduced[:, -1:] = to_uint8(strip)
    if last_row_weight < 1.0 and height % 2 == 0 and height > 1:
        strip = weighted_reduce(rgb[-2:, :], last_column_weight, last_row_weight)
        reduced[-1:, :] = to_uint8(strip)
    return reduced


def reduce_box(rgb: np.ndarray, factor: int) -> np.ndarray:
    """Mean of factor x factor blocks; partial blocks at the right/bottom average what
    exists, which is exact when `rgb` is level 0 (its edge pixels are whole pixels)."""
    reduced: np.ndarray = np.asarray(Image.fromarray(rgb).reduce(factor))
    return reduced


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    rounded: np.ndarray = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    return rounded


def weighted_reduce(
    pixels: np.ndarray, last_column_weight: float = 1.0, last_row_weight: float = 1.0
) -> np.ndarray:
    """2x2 mean in float64, without rounding, the last column/row weighted as given.

    For small levels, where rounding after every one of many reductions would add up."""
    height, width = pixels.shape[:2]
    wy = np.ones(height + height % 2)
    wx = np.ones(width + width % 2)
    wy[height - 1], wx[width - 1] = last_row_weight, last_column_weight
    wy[height:], wx[width:] = 0.0, 0.0
    padded = np.zeros((len(wy), len(wx), 3))
    padded[:height, :width] = pixels
    weights = wy[:, None] * wx[None, :]
    num = (padded * weights[..., None]).reshape(len(wy) // 2, 2, len(wx) // 2, 2, 3).sum((1, 3))
    den = weights.reshape(len(wy) // 2, 2, len(wx) // 2, 2).sum((1, 3))[..., None]
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
