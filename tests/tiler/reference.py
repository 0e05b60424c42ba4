"""Reference pixels for checking pyramids: level 0 as OpenSlide reads it, lower levels
as an exact box filter of it, and the PSNR a plain JPEG encode reaches on them."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from tiler import Slide


def level0_rgb(slide: Slide) -> np.ndarray:
    info = slide.info
    return slide.read_rgb((0, 0), 0, (info.width, info.height))


def box_filter(pixels: np.ndarray, factor: int) -> np.ndarray:
    """Mean of each factor x factor block (partial blocks at the edges average what exists)."""
    if factor == 1:
        return pixels
    h, w = pixels.shape[:2]
    ys, xs = np.arange(0, h, factor), np.arange(0, w, factor)
    sums = np.add.reduceat(np.add.reduceat(pixels.astype(np.float64), ys, axis=0), xs, axis=1)
    counts = np.outer(np.diff(np.append(ys, h)), np.diff(np.append(xs, w)))[..., None]
    # Half up, as image libraries round (np.rint would round 254.5 to even).
    return np.clip(np.floor(sums / counts + 0.5), 0, 255).astype(np.uint8)


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
