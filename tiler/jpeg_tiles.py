"""Slide levels straight from a TIFF pyramid's JPEG tiles.

OpenSlide's read_region runs at about 55 megapixels/s per core here, most of it
spent outside the JPEG decoder; decoding the slide's own tiles with
libjpeg-turbo is several times faster. This is an accelerator, not a reader:
OpenSlide still owns metadata, and `verified_levels` uses a level's tiles only
after a sample of them decodes to OpenSlide's pixels.

The levels, their tiles and the decoding are those of the reader of a slide still
arriving (`tiler.partial` over a file whose bytes have all arrived): one structure
parser, one tile decoder (`tiler.jpeg_stream`: the colour space OpenSlide forces, the
declared size checked before decoding), so a finished slide and an arriving one
choose the same levels (`jpeg_levels`) and decode the same pixels.

Accepted: OpenSlide's `aperio` and `generic-tiff` vendors, levels of plain 8-bit
RGB/YCbCr JPEG tiles that each have bytes of their own. Not accepted, though also
JPEG-tiled TIFF: Philips (sparse tiles that OpenSlide fills with background, and
levels padded to whole tiles), Leica SCN (several images placed by XML), Ventana BIF
and Trestle (overlapping tiles OpenSlide stitches): each needs its vendor's layout
rules, which only OpenSlide applies. Aperio JPEG 2000 (33003/33005) and NDPI (one
JPEG per strip) are not JPEG tiles, and an Aperio level with missing tiles is drawn
partly from the level above, by OpenSlide.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from tiler.errors import BrokenSlideError, SlideBridgeError, SlideError
from tiler.partial import PartialSlide
from tiler.received import ReceivedRanges
from tiler.slide import Slide
from tiler.slide_structure import SlideStructure

VENDORS = frozenset({"aperio", "generic-tiff"})
#: Side of the sample a level is verified on.
VERIFY_SIDE = 512
#: A level whose sample decodes this close to OpenSlide's is accepted (libjpeg
#: builds may differ in the last bit of an IDCT; a wrong layout is far below).
VERIFY_MIN_PSNR = 45.0


def jpeg_levels(structure: SlideStructure) -> frozenset[int]:
    """The levels decoded from their own JPEG tiles once they pass `verified_levels`:
    the one rule for a finished slide and for a slide still arriving (whose levels
    count as storing every tile until their tile table has arrived)."""
    if structure.vendor not in VENDORS:
        return frozenset()
    return frozenset(
        index
        for index, level in enumerate(structure.levels)
        if level.codec == "jpeg"
        and level.decode_reason is None
        and not level.drawn_elsewhere_so_far
    )


class JpegLevel:
    """One slide level's JPEG tiles: byte ranges, decoded tiles, decoded regions.
    Safe to share between threads."""

    def __init__(self, reader: PartialSlide, index: int) -> None:
        self._reader = reader
        self.index = index
        self.structure = reader.structure.levels[index]
        self.width = self.structure.width
        self.height = self.structure.height
        self.tile_width = self.structure.tile_width
        self.tile_height = self.structure.tile_height
        self.cols = self.structure.cols
        self.rows = self.structure.rows

    def tile_range(self, t_col: int, t_row: int) -> tuple[int, int]:
        """(offset, length) in the file of tile (t_col, t_row)'s JPEG stream."""
        if not (0 <= t_col < self.cols and 0 <= t_row < self.rows):
            raise ValueError(f"no tile {t_col},{t_row}")
        index = t_row * self.cols + t_col
        return int(self.structure.offsets[index]), int(self.structure.counts[index])

    def decode_tile(self, t_col: int, t_row: int) -> np.ndarray:
        """Tile (t_col, t_row) as uint8 (HxWx3, or HxWx4 RGBX), clipped to the level; a
        typed SlideError if it is not a valid tile. The array is shared: do not write
        to it."""
        try:
            pixels = self._reader.read_level_tile(self.index, t_col, t_row)
        except SlideError as error:  # named as the OpenSlide reader names its errors
            path = self._reader.path
            raise BrokenSlideError(f"{path.name}: {error.reason}", path=str(path)) from error
        if pixels is None:  # every byte was recorded as received
            raise BrokenSlideError(
                f"{self._reader.path.name}: tile {t_col},{t_row} of level {self.index} "
                "is unreadable"
            )
        return pixels

    def read_rgb(self, x: int, y: int, width: int, height: int) -> np.ndarray:
        """Pixels [x, x+width) x [y, y+height) of the level; must lie inside it."""
        return assemble(self.decode_tile, self.tile_width, self.tile_height, x, y, width, height)


def assemble(
    tile: Callable[[int, int], np.ndarray],
    tile_width: int,
    tile_height: int,
    x: int,
    y: int,
    width: int,
    height: int,
    uniform: Callable[[np.ndarray], bytes | None] | None = None,
) -> np.ndarray:
    """A region cut from the tiles `tile(t_col, t_row)` of a level (of their dtype).

    With `uniform` (a tile's single colour, or None), a region that lies on one shared
    tile of one colour (blank glass: its repeated bytes decode to one array) is that
    tile's first pixel broadcast, read-only: no copy, and `uniform_colour` answers at
    once. Half of a slide's windows are such; copying and scanning them cost a build
    a tenth of its time."""
    tw, th = tile_width, tile_height
    c0, r0 = x // tw, y // th
    cols = range(c0, (x + width - 1) // tw + 1)
    rows = range(r0, (y + height - 1) // th + 1)
    tiles = [tile(t_col, t_row) for t_row in rows for t_col in cols]
    first = tiles[0]
    if uniform is not None and all(t is first for t in tiles) and uniform(first) is not None:
        # A view of the tile's first pixel with zero strides (`np.broadcast_to` costs
        # ten times as much), read-only: its pixels all alias one.
        shape, strides = (height, width, first.shape[2]), (0, 0, first.strides[2])
        broadcast = np.ndarray(shape, first.dtype, first, 0, strides)
        broadcast.flags.writeable = False
        return broadcast
    out = np.empty((height, width, first.shape[2]), dtype=first.dtype)
    x1, y1 = x + width, y + height
    pixels = iter(tiles)
    for ty0 in range(r0 * th, y1, th):
        sy0, sy1 = max(y, ty0), min(y1, ty0 + th)
        out_rows, tile_rows = slice(sy0 - y, sy1 - y), slice(sy0 - ty0, sy1 - ty0)
        for tx0 in range(c0 * tw, x1, tw):
            sx0, sx1 = max(x, tx0), min(x1, tx0 + tw)
            out[out_rows, sx0 - x : sx1 - x] = next(pixels)[tile_rows, sx0 - tx0 : sx1 - tx0]
    return out


def complete_reader(path: Path, channels: int = 3) -> PartialSlide:
    """The partial reader over a finished file (every byte received); `channels=4`
    decodes tiles to RGBX."""
    size = os.stat(path).st_size
    received = ReceivedRanges(size)
    if size:
        received.add(0, size)
    return PartialSlide(path, size, received, channels=channels)


class JpegPyramid:
    """The JPEG-tiled levels of one TIFF file, by OpenSlide level index."""

    def __init__(self, reader: PartialSlide, levels: Iterable[int]) -> None:
        self._reader = reader
        self.levels = {index: JpegLevel(reader, index) for index in levels}

    @classmethod
    def open(cls, path: Path, slide: Slide, channels: int = 3) -> JpegPyramid | None:
        """The slide's levels that are JPEG tiles we decode (`jpeg_levels`), or None
        where there is none; `channels=4` decodes them to RGBX."""
        info = slide.info
        if info.vendor not in VENDORS:
            return None
        try:
            reader = complete_reader(path, channels)
        except (SlideBridgeError, OSError):
            return None
        try:
            structure = reader.structure
            found = jpeg_levels(structure)
            sizes = [(level.width, level.height) for level in structure.levels]
        except SlideBridgeError:
            found = frozenset()
        # OpenSlide's levels, as the structure parser mirrors them (tests check it on
        # every file): anything else is a file we misread, and OpenSlide reads it alone.
        if not found or sizes != [(level.width, level.height) for level in info.levels]:
            reader.close()
            return None
        return cls(reader, sorted(found))

    def decode_tile(self, level: int, t_col: int, t_row: int) -> np.ndarray:
        """Level tile (t_col, t_row) as uint8 pixels (KeyError: not a JPEG level here)."""
        return self.levels[level].decode_tile(t_col, t_row)

    def tile_range(self, level: int, t_col: int, t_row: int) -> tuple[int, int]:
        """(offset, length) of level tile (t_col, t_row)'s JPEG stream in the file."""
        return self.levels[level].tile_range(t_col, t_row)

    def close(self) -> None:
        self._reader.close()


def verified_levels(slide: Slide, path: Path) -> JpegPyramid | None:
    """The slide's JPEG-tiled levels that decode to OpenSlide's pixels, or None.

    Each level is checked on a sample: at its centre where OpenSlide reads that level
    exactly anywhere (level 0, or a downsample that is exactly an integer), else at
    its top-left corner, the one place OpenSlide reads without interpolating."""
    pyramid = JpegPyramid.open(path, slide)
    if pyramid is None:
        return None
    for index in list(pyramid.levels):
        if not _matches_openslide(slide, pyramid.levels[index], index):
            del pyramid.levels[index]
    if not pyramid.levels:
        pyramid.close()
        return None
    return pyramid


def _matches_openslide(slide: Slide, level: JpegLevel, index: int) -> bool:
    downsample = slide.info.levels[index].downsample
    width, height = min(VERIFY_SIDE, level.width), min(VERIFY_SIDE, level.height)
    x = y = 0
    if downsample == int(downsample):
        x, y = (level.width - width) // 2, (level.height - height) // 2
    try:
        ours = level.read_rgb(x, y, width, height).astype(np.int32)
    except (SlideBridgeError, ValueError, OSError):
        return False
    l0 = (int(x * downsample), int(y * downsample))
    theirs = slide.read_rgb(l0, index, (width, height)).astype(np.int32)
    mse = float(((ours - theirs) ** 2).mean())
    return mse == 0 or 10 * math.log10(255**2 / mse) >= VERIFY_MIN_PSNR
