"""Level-0 pixels straight from a TIFF pyramid's JPEG tiles (the only tifffile user).

OpenSlide's read_region runs at about 55 megapixels/s per core here, most of it
spent outside the JPEG decoder; decoding the slide's own tiles with
libjpeg-turbo is several times faster. This is an accelerator for the pyramid
builder, not a reader: OpenSlide still owns metadata, and `matches_openslide`
lets the builder check that both paths give the same pixels before using it.
"""

from __future__ import annotations

import math
import os
import threading
import weakref
from collections import OrderedDict
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
_VENDORS = {"aperio", "generic-tiff"}


class JpegTileReader:
    """Decoded RGB regions of level 0, assembled from the raw JPEG tiles."""

    def __init__(self, path: Path, page: tifffile.TiffPage) -> None:
        self.width = int(page.imagewidth)
        self.height = int(page.imagelength)
        self.tile_width = int(page.tilewidth)
        self.tile_height = int(page.tilelength)
        self.cols = -(-self.width // self.tile_width)
        self._offsets = [int(o) for o in page.dataoffsets]
        self._counts = [int(c) for c in page.databytecounts]
        tables = page.jpegtables
        self._prefix = b"\xff\xd8" + (_ADOBE_RGB if page.photometric == _PHOTOMETRIC_RGB else b"")
        self._tables = bytes(tables)[2:-2] if tables else b""
        # A JPEG tile beyond twice its raw size is a forged byte count, not a tile.
        self._max_tile_bytes = max(1 << 20, 2 * 3 * self.tile_width * self.tile_height)
        self._fd = os.open(path, os.O_RDONLY)
        # Closed with the reader, or when a cache drops it without calling close().
        self._closer = weakref.finalize(self, os.close, self._fd)
        # Identical tile bytes (blank glass written once by many scanners) decode once.
        self._decoded: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # tile requests read one reader from several threads

    @classmethod
    def open(cls, path: Path, vendor: str) -> JpegTileReader | None:
        """A reader when level 0 is 8-bit RGB JPEG tiles in a layout we handle, else None."""
        if vendor not in _VENDORS:
            return None
        try:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages[0]
                if not isinstance(page, tifffile.TiffPage):
                    return None
                usable = (
                    page.is_tiled
                    and page.compression == _JPEG
                    and page.photometric in (_PHOTOMETRIC_RGB, _PHOTOMETRIC_YCBCR)
                    and page.samplesperpixel == 3
                    and page.bitspersample == 8
                    and page.planarconfig == 1
                    and page.imagedepth == 1
                    and len(page.dataoffsets)
                    == -(-page.imagewidth // page.tilewidth)
                    * -(-page.imagelength // page.tilelength)
                )
                return cls(path, page) if usable else None
        except (tifffile.TiffFileError, OSError, ValueError, IndexError):
            return None

    def _tile(self, col: int, row: int) -> np.ndarray:
        index = row * self.cols + col
        count = self._counts[index]
        if count > self._max_tile_bytes:
            raise ValueError(f"tile {col},{row} claims {count} bytes")
        data = os.pread(self._fd, count, self._offsets[index]) if count else b""
        with self._lock:
            cached = self._decoded.get(data)
            if cached is not None:
                self._decoded.move_to_end(data)
                return cached
        if not data.startswith(b"\xff\xd8") or len(data) != count:
            raise ValueError(f"tile {col},{row} is not a JPEG stream")
        pixels = decode_jpeg(self._prefix + self._tables + data[2:])
        if pixels.shape != (self.tile_height, self.tile_width, 3):
            raise ValueError(f"tile {col},{row} decodes to {pixels.shape[1]}x{pixels.shape[0]}")
        with self._lock:
            self._decoded[data] = pixels
            if len(self._decoded) > 8:
                self._decoded.popitem(last=False)
        return pixels

    def read_rgb(self, x: int, y: int, width: int, height: int) -> np.ndarray:
        """Pixels [x, x+width) x [y, y+height) of level 0; must lie inside the image."""
        out = np.empty((height, width, 3), dtype=np.uint8)
        tw, th = self.tile_width, self.tile_height
        for row in range(y // th, (y + height - 1) // th + 1):
            for col in range(x // tw, (x + width - 1) // tw + 1):
                tile = self._tile(col, row)
                tx0, ty0 = col * tw, row * th
                sx0, sy0 = max(x, tx0), max(y, ty0)
                sx1, sy1 = min(x + width, tx0 + tw), min(y + height, ty0 + th)
                out[sy0 - y : sy1 - y, sx0 - x : sx1 - x] = tile[
                    sy0 - ty0 : sy1 - ty0, sx0 - tx0 : sx1 - tx0
                ]
        return out

    def close(self) -> None:
        self._closer()


def verified_reader(slide: Slide, path: Path) -> JpegTileReader | None:
    """A raw-tile reader for the slide's level 0, only where it gives OpenSlide's pixels
    (checked on a 512-pixel sample at the centre: PSNR >= 45 dB), else None."""
    reader = JpegTileReader.open(path, slide.info.vendor)
    if reader is None:
        return None
    try:
        info = slide.info
        size = min(512, info.width), min(512, info.height)
        x, y = (info.width - size[0]) // 2, (info.height - size[1]) // 2
        ours = reader.read_rgb(x, y, *size).astype(np.int32)
        theirs = slide.read_rgb((x, y), 0, size).astype(np.int32)
        mse = float(((ours - theirs) ** 2).mean())
        if mse == 0 or 10 * math.log10(255**2 / mse) >= 45:
            return reader
    except ValueError:
        pass
    reader.close()
    return None
