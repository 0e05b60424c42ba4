"""Any Deep Zoom tile straight from the slide file, for slides without a pyramid yet.

Each tile's pixels are those `tiler.levels` defines (made from the slide level the
pyramid builder reads for that Deep Zoom level, with the same arithmetic), so the
encoded tile is byte-identical to the built pyramid's, whichever tiles were asked
before it. `tiler.level_pixels` caches the decoded source tiles and the reduced
chunks that zoomed-out levels need, bounded in bytes and shared between requests.
"""

from __future__ import annotations

import numpy as np

from tiler.deepzoom import DEFAULT_OPTIONS, DeepZoomGrid, TileOptions
from tiler.imaging import encode_tile
from tiler.level_pixels import SlidePixels
from tiler.slide import Slide


class SlideTiles:
    """Encoded tiles of one slide in one tile format; safe to call from many threads."""

    def __init__(
        self,
        slide: Slide,
        options: TileOptions = DEFAULT_OPTIONS,
        pixels: SlidePixels | None = None,
    ) -> None:
        self.slide = slide
        self.options = options
        self.pixels = pixels if pixels is not None else SlidePixels(slide)
        info = slide.info
        self.grid = DeepZoomGrid(info.width, info.height, options.tile_size, options.overlap)

    def dzi_xml(self) -> str:
        return self.grid.dzi_xml(self.options)

    def tile(self, z: int, col: int, row: int) -> bytes:
        """The encoded tile; NotFoundError outside the grid, SlideError on a broken file."""
        box = self.grid.tile_box(z, col, row)

        def encode() -> np.ndarray:
            data = encode_tile(self.pixels.tile_pixels(box), self.options)
            return np.frombuffer(data, dtype=np.uint8)

        # Encoded tiles are kept too: a crowd opening a new slide asks for the same
        # zoomed-out tiles first, and a tile's bytes never change.
        return self.pixels.remember(("encoded", self.options, z, col, row), encode).tobytes()
