"""A `Slide` over a file still arriving, so that whatever reads a slide (the service's
IIIF renderer, thumbnails) works on it unchanged.

Metadata is OpenSlide's (`tiler.partial`). A region of a level is painted from that
level's arrived tiles, then, where those are missing, from coarser levels scaled up
(their last pixels stretched to this level's edge); what no level has yet is
transparent (background once composited, as `read_rgb` does), and so is everything
outside the level, as OpenSlide leaves it. Once every
tile has arrived a region is OpenSlide's wherever OpenSlide reads the level without
interpolating: any region of level 0 or of a level whose downsample is an integer,
and any level read from its origin (elsewhere OpenSlide resamples by a sub-pixel
offset and we by the same offset, not necessarily to the same last bit). Associated
images once their bytes are in, NotFoundError before. Thread-safe.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from tiler import hardening
from tiler.decoded_cache import DecodedCache
from tiler.errors import NotArrivedError, NotFoundError, SlideTooLargeError
from tiler.interim import Canvas, StoredLevel, TileFn
from tiler.partial import PartialSlide
from tiler.slide import Slide, SlideInfo, background_of

#: Decoded tiles a slide keeps when no cache is shared with it.
OWN_CACHE_BYTES = 32 << 20


class ArrivingSlide(Slide):
    def __init__(self, partial: PartialSlide, cache: DecodedCache | None = None) -> None:
        """`NotArrivedError` until the structure has arrived."""
        self.partial = partial
        self._info = partial.info
        self.cache = cache if cache is not None else DecodedCache(OWN_CACHE_BYTES)
        #: Keys this slide's entries in the (possibly shared) cache.
        self._token = object()

    @property
    def info(self) -> SlideInfo:
        return self._info

    @property
    def background_rgb(self) -> tuple[int, int, int]:
        return background_of(self._info.properties)

    def stored_level(
        self, level: int, downsample: float, *, clamp: bool = False, tile: TileFn | None = None
    ) -> StoredLevel:
        """Level `level` as a canvas reads it, at `downsample` level-0 pixels per pixel;
        its arrived tiles from `tile`, or decoded and kept in this slide's cache."""
        grid = self.partial.tile_grid(level)
        stored = self._info.levels[level]
        partial = self.partial

        def cached(t_col: int, t_row: int) -> np.ndarray:
            key = (self._token, level, t_col, t_row)
            return self.cache.get(key, lambda: arrived_tile(partial, level, t_col, t_row))

        return StoredLevel(
            downsample=downsample,
            width=stored.width,
            height=stored.height,
            tile_width=grid.tile_width,
            tile_height=grid.tile_height,
            arrived=lambda window: partial.arrived_tiles(level, window),
            tile=tile or cached,
            clamp=clamp,
        )

    def read_region(
        self, l0_location: tuple[int, int], level: int, size: tuple[int, int]
    ) -> Image.Image:
        levels = self._info.levels
        if not 0 <= level < len(levels):
            raise NotFoundError(f"no level {level}")
        width, height = size
        if width < 0 or height < 0:
            raise ValueError(f"negative region size {width}x{height}")
        if width * height > hardening.MAX_DECODE_PIXELS:
            raise SlideTooLargeError(f"a {width}x{height} region is beyond the accepted size")
        stored = levels[level]
        # Only the output inside the level: OpenSlide leaves the rest transparent (and a
        # coarser level may reach a little further than this one).
        x, y = l0_location[0] / stored.downsample, l0_location[1] / stored.downsample
        ox0, oy0 = max(0, math.ceil(-x)), max(0, math.ceil(-y))
        ox1 = min(width, math.ceil(stored.width - x))
        oy1 = min(height, math.ceil(stored.height - y))
        rgba = np.zeros((height, width, 4), dtype=np.uint8)
        if ox1 > ox0 and oy1 > oy0:
            canvas = Canvas(
                l0_location[0] + ox0 * stored.downsample,
                l0_location[1] + oy0 * stored.downsample,
                stored.downsample,
                (ox1 - ox0, oy1 - oy0),
                self.background_rgb,
            )
            for index in range(level, len(levels)):
                if canvas.complete:
                    break
                # A coarser level a pixel short of this one stretches its edge over it.
                canvas.paint(self.stored_level(index, levels[index].downsample, clamp=True))
            inside = rgba[oy0:oy1, ox0:ox1]
            inside[canvas.known, :3] = canvas.pixels[canvas.known]
            inside[canvas.known, 3] = 255
        return Image.fromarray(rgba, "RGBA")

    def associated_image(self, name: str) -> Image.Image:
        pixels = self.partial.read_associated(name)  # NotFoundError for an unknown name
        if pixels is None:
            raise NotFoundError(f"the {name} image has not arrived yet")
        return Image.fromarray(pixels)

    def close(self) -> None:
        self.cache.drop(self._token)


def arrived_tile(partial: PartialSlide, level: int, t_col: int, t_row: int) -> np.ndarray:
    """A tile that `arrived_tiles` reported (bytes never leave), else `NotArrivedError`."""
    pixels = partial.read_level_tile(level, t_col, t_row)
    if pixels is None:
        raise NotArrivedError(f"tile {t_col},{t_row} of level {level} has not arrived")
    return pixels
