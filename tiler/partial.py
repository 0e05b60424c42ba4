"""A slide whose bytes are still arriving: metadata, tile grids and the tiles that have
arrived, read from a sparse file where missing bytes are holes.

OpenSlide cannot open a partial file, so this reads it with our own parsers: the
structure (TIFF directories or the DICOM data set) is parsed from received bytes only
(a read of a byte not yet received raises `NotArrivedError`, nothing is guessed from a
hole), which gives exactly what OpenSlide will report once the file is complete. Level
tiles are decoded from their own bytes with libjpeg-turbo as OpenSlide decodes them
(tables first, colour space forced from the photometric tag), edge tiles clipped to
the level. Thread-safe: tile requests come from a thread pool while ranges arrive.
"""

from __future__ import annotations

import io
import os
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tiler import hardening
from tiler.byte_layout import read_structure
from tiler.errors import (
    BrokenSlideError,
    NotArrivedError,
    NotDecodableError,
    NotFoundError,
    SlideError,
    SlideTooLargeError,
)
from tiler.jpeg_stream import decode_tile
from tiler.received import ReceivedRanges
from tiler.slide import SlideInfo, composite_on
from tiler.slide_structure import AssociatedStructure, LevelStructure, SlideStructure

#: Bytes an associated image may occupy (labels and macros are well under 10 MB).
MAX_ASSOCIATED_BYTES = 64 << 20


@dataclass(frozen=True)
class TileGrid:
    cols: int
    rows: int
    tile_width: int
    tile_height: int


class PartialSlide:
    def __init__(self, path: str | os.PathLike[str], size: int, received: ReceivedRanges) -> None:
        if received.size != size:
            raise ValueError("the received ranges describe a file of another size")
        self.path = Path(path)
        self.size = size
        self.received = received
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except OSError as error:
            raise SlideError(f"not a readable file: {self.path.name}") from error
        self._closer = weakref.finalize(self, os.close, self._fd)
        self._lock = threading.Lock()
        self._structure: SlideStructure | None = None
        self._info: SlideInfo | None = None
        self._failure: SlideError | None = None

    def _read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise BrokenSlideError(f"read of bytes {offset}+{length} beyond the file's end")
        if not self.received.covers(offset, offset + length):
            raise NotArrivedError(f"bytes {offset}-{offset + length} have not arrived yet")
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            # Recorded as received before the file holds them: ask again later.
            raise NotArrivedError(f"bytes {offset}-{offset + length} are not in the file yet")
        return data

    # -- structure and metadata ----------------------------------------------------

    @property
    def structure(self) -> SlideStructure:
        """The parsed structure; `NotArrivedError` until its bytes have arrived."""
        with self._lock:
            if self._structure is None:
                if self._failure is not None:
                    raise self._failure
                try:
                    self._structure = read_structure(self._read_at, self.size, complete=False)
                except NotArrivedError:
                    raise
                except SlideError as error:
                    # Parsed from received bytes only: the finished file fails the same way.
                    error.path = str(self.path)
                    self._failure = error
                    raise
            return self._structure

    @property
    def ready(self) -> bool:
        """Whether the structure has arrived (metadata and grids can be read)."""
        try:
            self.structure  # noqa: B018 - parses on first use
        except NotArrivedError:
            return False
        return True

    @property
    def info(self) -> SlideInfo:
        """The metadata OpenSlide will report for the finished file."""
        structure = self.structure
        if self._info is None:
            self._info = structure.info()
        return self._info

    def _level(self, level: int) -> LevelStructure:
        levels = self.structure.levels
        if not 0 <= level < len(levels):
            raise NotFoundError(f"no level {level}")
        return levels[level]

    def tile_grid(self, level: int) -> TileGrid:
        lv = self._level(level)
        return TileGrid(lv.cols, lv.rows, lv.tile_width, lv.tile_height)

    # -- level tiles ---------------------------------------------------------------

    def arrived_tiles(self, level: int) -> np.ndarray:
        """rows x cols booleans: the tiles `read_level_tile` can return now."""
        lv = self._level(level)
        ends = lv.offsets + lv.counts
        ready = self.received.covers_many(lv.offsets, ends) & (lv.counts > 0)
        for tile, pieces in lv.fragments.items():
            ready[tile] = all(self.received.covers(o, o + n) for o, n in pieces)
        if lv.decode_reason is not None:
            ready[:] = False
        for tile in lv.drawn_elsewhere:
            ready[tile] = False
        result: np.ndarray = ready.reshape(lv.rows, lv.cols)
        return result

    def has_level_tile(self, level: int, t_col: int, t_row: int) -> bool:
        lv, tile = self._tile(level, t_col, t_row)
        if lv.decode_reason is not None or tile in lv.drawn_elsewhere:
            return False
        return all(self.received.covers(o, o + n) for o, n in self._pieces(lv, tile))

    def _tile(self, level: int, t_col: int, t_row: int) -> tuple[LevelStructure, int]:
        lv = self._level(level)
        if not (0 <= t_col < lv.cols and 0 <= t_row < lv.rows):
            raise NotFoundError(f"no tile {t_col},{t_row} in level {level}")
        return lv, t_row * lv.cols + t_col

    @staticmethod
    def _pieces(lv: LevelStructure, tile: int) -> tuple[tuple[int, int], ...]:
        return lv.fragments.get(tile) or ((int(lv.offsets[tile]), int(lv.counts[tile])),)

    def read_level_tile(self, level: int, t_col: int, t_row: int) -> np.ndarray | None:
        """The tile's pixels (HxWx3, clipped to the level), None until its bytes arrive.
        `NotDecodableError` for tiles only OpenSlide draws; `NotFoundError` off the grid."""
        lv, tile = self._tile(level, t_col, t_row)
        if lv.decode_reason is not None:
            raise NotDecodableError(lv.decode_reason)
        if tile in lv.drawn_elsewhere:
            raise NotDecodableError(
                f"tile {t_col},{t_row} of level {level} has no bytes of its own in the file"
            )
        pieces = self._pieces(lv, tile)
        size = (lv.tile_width, lv.tile_height)
        limit = 2 * 3 * lv.tile_width * lv.tile_height + (1 << 20)
        if sum(n for _, n in pieces) > limit:
            raise BrokenSlideError(f"tile {t_col},{t_row} of level {level} claims too many bytes")
        if not all(self.received.covers(o, o + n) for o, n in pieces):
            return None
        data = b"".join(self._read_at(o, n) for o, n in pieces)
        if lv.codec == "raw-rgb":
            if len(data) != 3 * size[0] * size[1]:
                raise BrokenSlideError(f"frame {t_col},{t_row} has {len(data)} bytes")
            pixels = np.frombuffer(data, np.uint8).reshape(size[1], size[0], 3)
        else:
            pixels = decode_tile(data, lv.jpeg_tables, lv.jpeg_colorspace, size)
        width = min(lv.tile_width, lv.width - t_col * lv.tile_width)
        height = min(lv.tile_height, lv.height - t_row * lv.tile_height)
        return np.ascontiguousarray(pixels[:height, :width])

    # -- associated images ---------------------------------------------------------

    def _associated(self, name: str) -> AssociatedStructure:
        for image in self.structure.associated:
            if image.name == name:
                return image
        raise NotFoundError(f"no associated image {name!r}")

    def has_associated(self, name: str) -> bool:
        image = self._associated(name)
        return all(self.received.covers(o, o + n) for o, n in image.extents)

    def read_associated(self, name: str) -> np.ndarray | None:
        """The associated image as HxWx3 (transparency on white, as our OpenSlide reader
        gives it), None until its bytes arrive."""
        image = self._associated(name)
        if image.width * image.height > hardening.MAX_DECODE_PIXELS:
            raise SlideTooLargeError(f"the {name} image is {image.width}x{image.height}")
        if not self.has_associated(name):
            return None
        tiff = self.structure.tiff
        assert tiff is not None  # only TIFF slides have associated images
        single = tiff.standalone(tiff.directories[image.directory], MAX_ASSOCIATED_BYTES)
        try:
            with Image.open(io.BytesIO(single)) as decoded:
                if decoded.size != (image.width, image.height):
                    raise BrokenSlideError(f"the {name} image decodes to {decoded.size}")
                rgba = np.asarray(decoded.convert("RGBA"))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
            raise BrokenSlideError(f"cannot decode the {name} image: {error}") from error
        return composite_on(rgba, (255, 255, 255))

    def close(self) -> None:
        self._closer()

    def __enter__(self) -> PartialSlide:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
