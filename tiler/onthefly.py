"""Any Deep Zoom tile straight from the slide file, for slides without a pyramid yet.

Each tile is read from the slide level closest to (not coarser than) its
downsample, box-filtered to size (the filter the pyramid builder uses, so a
tile does not change when the built pyramid takes over) and encoded. The
zoomed-out levels come from one overview image made on first use: without it,
each of them would decode the whole of a slide that has no small levels.
"""

from __future__ import annotations

import math
import threading

import numpy as np
from PIL import Image

from tiler.deepzoom import DEFAULT_OPTIONS, DeepZoomGrid, TileOptions
from tiler.imaging import encode_tile, reduce_box, resize_covering
from tiler.jpeg_tiles import JpegTileReader, verified_reader
from tiler.slide import Slide

#: The overview is the largest Deep Zoom level that fits in this many pixels a side.
OVERVIEW_SIDE = 1024


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
        # The largest level that fits the overview; levels at or below it are cut from it.
        self.overview_z = self.grid.z_max
        while max(self.grid.level_dimensions(self.overview_z)) > OVERVIEW_SIDE:
            self.overview_z -= 1
        self._lock = threading.Lock()
        #: The overview level and the smaller levels made from it, by Deep Zoom level.
        self._levels: dict[int, np.ndarray] = {}
        #: Level 0 from the slide's own JPEG tiles (7x OpenSlide's speed), once verified.
        self._raw: JpegTileReader | None = None
        self._raw_checked = False
        # Its own lock: the overview is built under `_lock` and reads level 0 too.
        self._raw_lock = threading.Lock()

    def dzi_xml(self) -> str:
        return self.grid.dzi_xml(self.options)

    def tile(self, z: int, col: int, row: int) -> bytes:
        """The encoded tile; NotFoundError outside the grid, SlideError on a broken file."""
        box = self.grid.tile_box(z, col, row)
        if z <= self.overview_z:
            level = self._level_from_overview(z)
            pixels = level[box.z_y : box.z_y + box.height, box.z_x : box.z_x + box.width]
        else:
            pixels = self._read(z, box.z_x, box.z_y, box.width, box.height)
        return encode_tile(np.ascontiguousarray(pixels), self.options)

    def _level_from_overview(self, z: int) -> np.ndarray:
        with self._lock:
            level = self._levels.get(z)
            if level is not None:
                return level
            top = self.overview_z
            overview = self._levels.get(top)
            if overview is None:
                width, height = self.grid.level_dimensions(top)
                overview = self._levels[top] = self._read(top, 0, 0, width, height)
            if z != top:
                factor = 1 << (top - z)
                reduced = reduce_box(
                    Image.fromarray(overview), factor, *self.grid.edge_weights(top)
                )
                level = self._levels[z] = np.asarray(reduced)
            else:
                level = overview
            return level

    def _read_raw(self, x: int, y: int, width: int, height: int) -> np.ndarray | None:
        """Level-0 pixels from the slide's JPEG tiles, or None to read through OpenSlide.
        A tile that fails to decode ends the raw path: OpenSlide then reads it, and
        gives the typed error (and the broken mark) if the file is really damaged."""
        raw = self._raw_level0()
        if raw is None:
            return None
        try:
            return raw.read_rgb(x, y, width, height)
        except (ValueError, OSError, RuntimeError):
            with self._raw_lock:
                self._raw = None
            return None

    def _raw_level0(self) -> JpegTileReader | None:
        with self._raw_lock:
            if not self._raw_checked:
                self._raw_checked = True
                path = getattr(self.slide, "path", None)
                self._raw = verified_reader(self.slide, path) if path is not None else None
            return self._raw

    def _read(self, z: int, z_x: int, z_y: int, width: int, height: int) -> np.ndarray:
        """Level-z pixels [z_x, z_x + width) x [z_y, z_y + height) from the slide."""
        downsample = self.grid.downsample(z)
        info = self.slide.info
        l0_x, l0_y = z_x * downsample, z_y * downsample
        l0_w = min(width * downsample, info.width - l0_x)
        l0_h = min(height * downsample, info.height - l0_y)
        level = self.slide.best_level_for_downsample(downsample)
        l_info = info.levels[level]
        factor = level_factor(l_info.downsample)
        # Start on a whole level pixel, and give OpenSlide a level-0 point that maps
        # onto it: it divides by its averaged downsample (8.011 for a true 8x level
        # whose size was rounded down), which would start up to a level pixel off.
        l_x, l_y = round(l0_x / factor), round(l0_y / factor)
        l_w = max(1, min(math.ceil(l0_w / factor), l_info.width - l_x))
        l_h = max(1, min(math.ceil(l0_h / factor), l_info.height - l_y))
        pixels = self._read_raw(l_x, l_y, l_w, l_h) if level == 0 else None
        if pixels is None:
            origin = (math.ceil(l_x * l_info.downsample), math.ceil(l_y * l_info.downsample))
            pixels = self.slide.read_rgb(origin, level, (l_w, l_h))
        scale = (downsample / factor, downsample / factor)
        if (l_w, l_h) != (width, height) or scale != (1.0, 1.0):
            pixels = resize_covering(pixels, (width, height), scale)
        return pixels
