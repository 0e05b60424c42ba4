"""Reference pixels for checking pyramids: each Deep Zoom level as an exact box filter
of its source level read whole by OpenSlide, and the PSNR a plain JPEG encode reaches
on them. Written apart from the tiler (floating point, one rounding per level, no
stages), so that it checks the tiler's arithmetic rather than repeating it."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from tiler import Slide


def source_level(slide: Slide, level: int, l0_factor: int) -> np.ndarray:
    """Slide level `level` read whole (from its origin, where OpenSlide never
    interpolates), as the anchor of size ceil(l0 / factor): a level one pixel short
    repeats its last column/row, a longer one is cropped."""
    info = slide.info
    stored = info.levels[level]
    pixels = slide.read_rgb((0, 0), level, (stored.width, stored.height))
    width, height = -(-info.width // l0_factor), -(-info.height // l0_factor)
    xs = np.minimum(np.arange(width), stored.width - 1)
    ys = np.minimum(np.arange(height), stored.height - 1)
    return pixels[ys][:, xs]


def weighted_box_filter(
    pixels: np.ndarray, factor: int, l0_size: tuple[int, int], l0_factor: int
) -> np.ndarray:
    """Mean of each factor x factor block, each pixel weighted by the level-0 pixels it
    covers (the last column/row of a slide whose size is not a multiple covers less)."""
    if factor == 1:
        return pixels
    h, w = pixels.shape[:2]
    wx = np.full(w, float(l0_factor))
    wy = np.full(h, float(l0_factor))
    wx[-1] = l0_size[0] - (w - 1) * l0_factor
    wy[-1] = l0_size[1] - (h - 1) * l0_factor
    ys, xs = np.arange(0, h, factor), np.arange(0, w, factor)
    weighted = pixels.astype(np.float64) * wy[:, None, None] * wx[None, :, None]
    sums = np.add.reduceat(np.add.reduceat(weighted, ys, axis=0), xs, axis=1)
    den = np.outer(np.add.reduceat(wy, ys), np.add.reduceat(wx, xs))[..., None]
    return np.clip(np.floor(sums / den + 0.5), 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def plain_jpeg_psnr(pixels: np.ndarray, quality: int) -> float:
    """The PSNR a plain Pillow JPEG encode of these exact pixels reaches."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality)
    return psnr(np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")), pixels)


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
