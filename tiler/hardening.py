"""Settings for reading untrusted image files (see HARDENING.md); applied once on import.

libvips: untrusted loaders are blocked (its loads pass fail_on="error" where they happen).
Pillow: a finite pixel limit, decompression bombs are errors, truncated images are errors.
"""

from __future__ import annotations

import warnings

import pyvips
from PIL import Image, ImageFile

from tiler.reasons import N_

#: Largest level-0 area we accept (a 200k x 200k scan is about 4e10; beyond is absurd).
MAX_SLIDE_PIXELS = 200_000 * 200_000
#: Largest single image Pillow may decode (associated images, thumbnails, uploads).
MAX_DECODE_PIXELS = 20_000 * 20_000
#: Largest dimension any side may have.
MAX_SIDE = 1_000_000


def check_dimensions(
    name: str, width: int, height: int, path: str | None = None, max_pixels: int | None = None
) -> None:
    """Refuse an image whose header's size is empty or beyond what we agree to decode
    (`max_pixels`: a slide's bound, `MAX_SLIDE_PIXELS` read at the call, unless the
    caller's is tighter), before any pixel is decoded."""
    from tiler.errors import BrokenSlideError, SlideTooLargeError

    max_pixels = MAX_SLIDE_PIXELS if max_pixels is None else max_pixels
    if width <= 0 or height <= 0:
        raise BrokenSlideError(f"{name}: empty image ({width}x{height})", path=path)
    if width * height > max_pixels or max(width, height) > MAX_SIDE:
        raise SlideTooLargeError(
            N_(
                "{name}: {width}x{height} pixels is beyond the accepted size"
                " ({megapixels} megapixels)",
                name=name,
                width=width,
                height=height,
                megapixels=f"{max_pixels / 1e6:g}",
            ),
            path=path,
        )


pyvips.block_untrusted_set(True)
Image.MAX_IMAGE_PIXELS = MAX_DECODE_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False
warnings.simplefilter("error", Image.DecompressionBombWarning)
