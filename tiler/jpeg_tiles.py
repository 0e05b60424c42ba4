"""Slide levels straight from a TIFF pyramid's JPEG tiles (the only tifffile user).

OpenSlide's read_region runs at about 55 megapixels/s per core here, most of it
spent outside the JPEG decoder; decoding the slide's own tiles with
libjpeg-turbo is several times faster. This is an accelerator, not a reader:
OpenSlide still owns metadata, and `verified_levels` uses a level's tiles only
after a sample of them decodes to OpenSlide's pixels.

Accepted: OpenSlide's `aperio` and `generic-tiff` vendors, levels that are plain
8-bit RGB/YCbCr JPEG tiles (compression 7) of exactly the level's size. Not
accepted, though also JPEG-tiled TIFF: Philips (sparse tiles that OpenSlide fills
with background, and levels padded to whole tiles), Leica SCN (several images
placed by XML), Ventana BIF and Trestle (overlapping tiles OpenSlide stitches):
each needs its vendor's layout rules, which only OpenSlide applies. Aperio
JPEG 2000 (33003/33005) and NDPI (one JPEG per strip) are not JPEG tiles.

The tile-granular API (`JpegLevel.decode_tile`, `JpegLevel.tile_range`) is what a
reader of a file still arriving calls: which bytes a tile needs, and its pixels.
"""

from __future__ import annotations

import math
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tifffile

from tiler.imaging import decode_jpeg
from tiler.slide import Slide

_JPEG = 7
_PHOTOMETRIC_RGB = 2
_PHOTOMETRIC_YCBCR = 6
# An Adobe APP14 marker with transform 0: tells libjpeg the samples are RGB, not
# YCbCr, as Aperio's photometric=RGB JPEG tiles are (OpenSlide does the same).
_ADOBE_RGB = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00"
VENDORS = frozenset({"aperio", "generic-tiff"})
#: Distinct tile encodings remembered per level: blank glass that a scanner wrote as
#: identical bytes decodes once.
_SAME_BYTES = 8
#: Side of the sample a level is verified on.
VERIFY_SIDE = 512
#: A level whose sample decodes this close to OpenSlide's is accepted (libjpeg
#: builds may differ in the last bit of an IDCT; a wrong layout is far below).
VERIFY_MIN_PSNR = 45.0


class JpegLevel:
    """One slide level's JPEG tiles: byte ranges, decoded tiles, decoded regions.
    Safe to share between threads."""

    def __init__(self, owner: JpegPyramid, fd: int, page: tifffile.TiffPage) -> None:
        # The pyramid owns the file descriptor: keep it open while a level is in use.
        self._owner = owner
        self.width = int(page.imagewidth)
        self.height = int(page.imagelength)
        self.tile_width = int(page.tilewidth)
        self.tile_height = int(page.tilelength)
        self.cols = -(-self.width // self.tile_width)
        self.rows = -(-self.height // self.tile_height)
        self._fd = fd
        self._offsets = [int(o) for o in page.dataoffsets]
        self._counts = [int(c) for c in page.databytecounts]
        tables = page.jpegtables
        rgb = page.photometric == _PHOTOMETRIC_RGB
        self._prefix = (
            b"\xff\xd8" + (_ADOBE_RGB if rgb else b"") + (bytes(tables)[2:-2] if tables else b"")
        )
        # A JPEG tile beyond twice its raw size is a forged byte count, not a tile.
        self._max_tile_bytes = max(1 << 20, 2 * 3 * self.tile_width * self.tile_height)
        self._decoded: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def usable(page: tifffile.TiffPage) -> bool:
        return bool(
            page.is_tiled
            and page.compression == _JPEG
            and page.photometric in (_PHOTOMETRIC_RGB, _PHOTOMETRIC_YCBCR)
            and page.samplesperpixel == 3
            and page.bitspersample == 8
            and page.planarconfig == 1
            and page.imagedepth == 1
            and len(page.dataoffsets)
            == -(-page.imagewidth // page.tilewidth) * -(-page.imagelength // page.tilelength)
        )

    def tile_range(self, t_col: int, t_row: int) -> tuple[int, int]:
        """(offset, length) in the file of tile (t_col, t_row)'s JPEG stream."""
        if not (0 <= t_col < self.cols and 0 <= t_row < self.rows):
            raise ValueError(f"no tile {t_col},{t_row}")
        index = t_row * self.cols + t_col
        return self._offsets[index], self._counts[index]

    def decode_tile(self, t_col: int, t_row: int) -> np.ndarray:
        """Tile (t_col, t_row) as tile_height x tile_width x 3 uint8 (edge tiles keep the
        encoder's padding beyond the level); ValueError if it is not a valid tile.
        The array is shared: do not write to it."""
        offset, count = self.tile_range(t_col, t_row)
        if count > self._max_tile_bytes:
            raise ValueError(f"tile {t_col},{t_row} claims {count} bytes")
        data = os.pread(self._fd, count, offset) if count else b""
        return self.decode_bytes(t_col, t_row, data)

    def decode_bytes(self, t_col: int, t_row: int, data: bytes) -> np.ndarray:
        """Tile (t_col, t_row) from its stream `data` (read by the caller, e.g. from a
        file still arriving)."""
        with self._lock:
            cached = self._decoded.get(data)
            if cached is not None:
                self._decoded.move_to_end(data)
                return cached
        if not data.startswith(b"\xff\xd8"):
            raise ValueError(f"tile {t_col},{t_row} is not a JPEG stream")
        pixels = decode_jpeg(self._prefix + data[2:])
        if pixels.shape != (self.tile_height, self.tile_width, 3):
            raise ValueError(f"tile {t_col},{t_row} decodes to {pixels.shape[1]}x{pixels.shape[0]}")
        pixels.flags.writeable = False
        with self._lock:
            self._decoded[data] = pixels
            if len(self._decoded) > _SAME_BYTES:
                self._decoded.popitem(last=False)
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
) -> np.ndarray:
    """A region cut from the tiles `tile(t_col, t_row)` of a level (of their dtype)."""
    tw, th = tile_width, tile_height
    cols = range(x // tw, (x + width - 1) // tw + 1)
    rows = range(y // th, (y + height - 1) // th + 1)
    out: np.ndarray | None = None
    for t_row in rows:
        for t_col in cols:
            pixels = tile(t_col, t_row)
            if out is None:
                out = np.empty((height, width, 3), dtype=pixels.dtype)
            tx0, ty0 = t_col * tw, t_row * th
            sx0, sy0 = max(x, tx0), max(y, ty0)
            sx1, sy1 = min(x + width, tx0 + tw), min(y + height, ty0 + th)
            out[sy0 - y : sy1 - y, sx0 - x : sx1 - x] = pixels[
                sy0 - ty0 : sy1 - ty0, sx0 - tx0 : sx1 - tx0
            ]
    assert out is not None, "an empty region"
    return out


class JpegPyramid:
    """The JPEG-tiled levels of one TIFF file, by OpenSlide level index."""

    def __init__(self, path: Path, levels: dict[int, tifffile.TiffPage]) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        # Closed with the pyramid, or when the last reference goes without close().
        self._closer = weakref.finalize(self, os.close, self._fd)
        self.levels = {index: JpegLevel(self, self._fd, page) for index, page in levels.items()}

    @classmethod
    def open(cls, path: Path, slide: Slide) -> JpegPyramid | None:
        """The slide's levels that are JPEG tiles in a layout we handle (matched to
        OpenSlide's levels by size), or None where there is none."""
        info = slide.info
        if info.vendor not in VENDORS:
            return None
        try:
            with tifffile.TiffFile(path) as tif:
                by_size: dict[tuple[int, int], list[tifffile.TiffPage]] = {}
                for page in tif.pages:
                    if isinstance(page, tifffile.TiffPage) and page.is_tiled:
                        size = (int(page.imagewidth), int(page.imagelength))
                        by_size.setdefault(size, []).append(page)
                found = {}
                for index, level in enumerate(info.levels):
                    pages = by_size.get((level.width, level.height), [])
                    # Two tiled pages of one size: which one OpenSlide reads is its business.
                    if len(pages) == 1 and JpegLevel.usable(pages[0]):
                        found[index] = pages[0]
                return cls(path, found) if found else None
        except (tifffile.TiffFileError, OSError, ValueError, IndexError, KeyError):
            return None

    def decode_tile(self, level: int, t_col: int, t_row: int) -> np.ndarray:
        """Level tile (t_col, t_row) as HxWx3 uint8 (KeyError: not a JPEG level here)."""
        return self.levels[level].decode_tile(t_col, t_row)

    def tile_range(self, level: int, t_col: int, t_row: int) -> tuple[int, int]:
        """(offset, length) of level tile (t_col, t_row)'s JPEG stream in the file."""
        return self.levels[level].tile_range(t_col, t_row)

    def close(self) -> None:
        self._closer()


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
    except (ValueError, OSError):
        return False
    l0 = (int(x * downsample), int(y * downsample))
    theirs = slide.read_rgb(l0, index, (width, height)).astype(np.int32)
    mse = float(((ours - theirs) ** 2).mean())
    return mse == 0 or 10 * math.log10(255**2 / mse) >= VERIFY_MIN_PSNR
