"""The one module of the service that calls libvips: turning and encoding rendered pixels.

A render's output (`render.render_pixels`) is handed to libvips without a copy
(`new_from_memory`); libvips mirrors, rotates, converts and encodes it on demand,
so no second full-size image is made on the way to the encoded bytes.

Nothing is loaded from a file or buffer here; a load added later must pass
`fail_on="error"` (HARDENING.md). `tiler.hardening`, imported for its effect, blocks
libvips' untrusted loaders. Two process-wide libvips settings are made on import:
the operation cache is off (it would keep references to renders' pixels, and renders
never repeat an operation), and one pipeline uses one thread: the render places
(`capacity.RenderCapacity`) are what bound the service's CPU, and libvips' own
worker threads would escape their low priority.
"""

from __future__ import annotations

import numpy as np
import pyvips

from tiler import hardening as _hardening  # noqa: F401 - untrusted loaders blocked

pyvips.cache_set_max(0)
pyvips.concurrency_set(1)

#: libvips' rotations, which turn clockwise as IIIF does.
_ANGLES = {90: "d90", 180: "d180", 270: "d270"}
#: Grey level from which a bitonal pixel is white.
BITONAL_THRESHOLD = 128


def encode(pixels: np.ndarray, *, mirror: bool, rotation: int, quality: str, fmt: str) -> bytes:
    """`pixels` (H x W x 3 uint8, C-contiguous) mirrored, turned by `rotation` degrees
    clockwise, in `quality` (default, color, gray, bitonal), encoded as jpg, png or webp."""
    height, width, bands = pixels.shape
    image = pyvips.Image.new_from_memory(pixels.data, width, height, bands, "uchar")
    image = image.copy(interpretation="srgb")
    if mirror:
        image = image.fliphor()
    if rotation:
        image = image.rot(_ANGLES[rotation])
    if quality in ("gray", "bitonal"):
        image = image.colourspace("b-w")
    if quality == "bitonal":
        image = (image >= BITONAL_THRESHOLD).cast("uchar")  # 0 or 255
    if fmt == "jpg":
        data = image.jpegsave_buffer(Q=85)
    elif fmt == "png":
        data = image.pngsave_buffer(compression=3, bitdepth=1 if quality == "bitonal" else 8)
    else:
        data = image.webpsave_buffer(Q=80)
    assert isinstance(data, bytes)
    return data
