"""Any Deep Zoom tile straight from the slide file, for slides without a pyramid yet.

Each tile is read from the slide level closest to (not coarser than) its
downsample, box-filtered to size (the filter the pyramid builder uses, so a
tile does not change when the built pyramid takes over) and encoded.
"""

from __future__ import annotations

import math

from tiler.deepzoom import DEFAULT_OPTIONS, DeepZoomGrid, TileOptions
from tiler.imaging import encode_tile, resize_covering
from tiler.slide import Slide


def level_factor(downsample: float) -> float:
    """The integer factor a level was really made with, when its reported downsample is
    that integer blurred by rounded-down level sizes; else the downsample itself."""
    nearest = round(downsample)
    return (
        float(nearest)
        if nearest >= 1 and abs(downsample - nearest) <= 0.01 * nearest
        else downsample
    )


class SlideTiles:
    def __init__(self, slide: Slide, options: TileOptions = DEFAULT_OPTIONS) -> None:
        self.slide = slide
        self.options = options
        info = slide.info
        self.grid = DeepZoomGrid(info.width, info.height, options.tile_size, options.overlap)

    def dzi_xml(self) -> str:
        return self.grid.dzi_xml(self.options)

    def tile(self, z: int, col: int, row: int) -> bytes:
        """The encoded tile; NotFoundError outside the grid, SlideError on a broken file."""
        box = self.grid.tile_box(z, col, row)
        downsample = self.grid.downsample(z)
        info = self.slide.info
        l0_x, l0_y = box.z_x * downsample, box.z_y * downsample
        l0_w = min(box.width * downsample, info.width - l0_x)
        l0_h = min(box.height * downsample, info.height - l0_y)
        level = self.slide.best_level_for_downsample(downsample)
        l_info = info.levels[level]
        factor = level_factor(l_info.downsample)
        # Start on a whole level pixel, and give OpenSlide a level-0 point that maps
        # onto it: it divides by its averaged downsample (8.011 for a true 8x level
        # whose size was rounded down), which would start up to a level pixel off.
        l_x, l_y = round(l0_x / factor), round(l0_y / factor)
        l_w = max(1, min(math.ceil(l0_w / factor), l_info.width - l_x))
        l_h = max(1, min(math.ceil(l0_h / factor), l_info.height - l_y))
        origin = (math.ceil(l_x * l_info.downsample), math.ceil(l_y * l_info.downsample))
        pixels = self.slide.read_rgb(origin, level, (l_w, l_h))
        scale = (downsample / factor, downsample / factor)
        if (l_w, l_h) != (box.width, box.height) or scale != (1.0, 1.0):
            pixels = resize_covering(pixels, (box.width, box.height), scale)
        return encode_tile(pixels, self.options)
