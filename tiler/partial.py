"""A slide whose bytes are still arriving: metadata, tile grids and the tiles that have
arrived, read from a sparse file where missing bytes are holes.

OpenSlide cannot open a partial file, so this reads it with our own parsers: the
structure (TIFF directories or the DICOM data set) is parsed from received bytes only
(a read of a byte not yet received raises `NotArrivedError`, nothing is guessed from a
hole), which gives exactly what OpenSlide will report once the file is complete. That
takes the structure every reader needs; each level's tile table (where its tiles lie)
is read once its own bytes are in (`table_arrived`): until then the level's tiles have
simply not arrived, and `missing_ranges` names the table's bytes. Level tiles are
decoded from their own bytes with libjpeg-turbo as OpenSlide decodes them (tables
first, colour space forced from the photometric tag), edge tiles clipped to the level.
Thread-safe: tile requests come from a thread pool while ranges arrive.
"""

from __future__ import annotations

import io
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Collection
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
from tiler.slide_structure import (
    AssociatedStructure,
    LevelStructure,
    SlideStructure,
)

#: Bytes an associated image may occupy (labels and macros are well under 10 MB).
MAX_ASSOCIATED_BYTES = 64 << 20
#: Distinct tile encodings remembered per level (see `PartialSlide._same_bytes`).
SAME_BYTES = 8


@dataclass(frozen=True)
class TileGrid:
    cols: int
    rows: int
    tile_width: int
    tile_height: int

    def covering(self, x0: int, y0: int, x1: int, y1: int) -> tuple[int, int, int, int]:
        """The tiles under pixels [x0, x1) x [y0, y1) of the level, as a window
        (t_col0, t_row0, t_col1, t_row1) for `arrived_tiles` and `missing_ranges`."""
        tw, th = self.tile_width, self.tile_height
        return (x0 // tw, y0 // th, (x1 - 1) // tw + 1, (y1 - 1) // th + 1)


def _members(
    index: np.ndarray,
    tiles: Collection[int],
    cols: int,
    window: tuple[int, int, int, int] | None,
) -> list[tuple[int, int]]:
    """(position in `index`, tile) for the `tiles` that `index` (the tiles of `window`, or
    of the whole level) holds; walks whichever of the two is shorter."""
    if window is None:
        return [(tile, tile) for tile in tiles]
    if len(index) <= len(tiles):
        return [(i, int(t)) for i, t in enumerate(index) if int(t) in tiles]
    c0, r0, c1, r1 = window
    return [
        ((tile // cols - r0) * (c1 - c0) + tile % cols - c0, tile)
        for tile in tiles
        if c0 <= tile % cols < c1 and r0 <= tile // cols < r1
    ]


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, with overlapping and touching spans joined."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class PartialSlide:
    def __init__(
        self,
        path: str | os.PathLike[str],
        size: int,
        received: ReceivedRanges,
        *,
        channels: int = 3,
    ) -> None:
        """`channels=4`: level tiles decode to RGBX (the pyramid builder's regions)."""
        if received.size != size:
            raise ValueError("the received ranges describe a file of another size")
        self.path = Path(path)
        self.channels = channels
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
        #: Levels whose tile table has arrived (and was read: it stays so).
        self._tables: set[int] = set()
        #: Per level whose table has arrived: its tiles' byte pieces sorted by start.
        self._by_offset: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, int]] = {}
        #: Recently decoded tile streams per level: blank glass that a scanner wrote as
        #: identical bytes (or one shared blank tile) decodes once, per level, however
        #: the requests of a viewer alternate between levels.
        self._same_bytes: dict[int, OrderedDict[bytes, np.ndarray]] = {}

    def _read_at(self, offset: int, length: int, *, arrived: bool = False) -> bytes:
        """Received bytes of the file (`arrived`: the caller has just checked that)."""
        if offset < 0 or length < 0 or offset + length > self.size:
            raise BrokenSlideError(f"read of bytes {offset}+{length} beyond the file's end")
        if not arrived and not self.received.covers(offset, offset + length):
            raise NotArrivedError(f"bytes {offset}-{offset + length} have not arrived yet")
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            # Recorded as received before the file holds them: ask again later.
            raise NotArrivedError(f"bytes {offset}-{offset + length} are not in the file yet")
        return data

    # -- structure and metadata ----------------------------------------------------

    @property
    def structure(self) -> SlideStructure:
        """The parsed structure; `NotArrivedError` until the structure every reader
        needs has arrived (the levels' tile tables are read later: `table_arrived`)."""
        parsed = self._structure
        if parsed is not None:  # parsed once, never replaced: no lock needed to read it
            return parsed
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
        """Whether the structure every reader needs has arrived: metadata and tile grids
        can be read (each level's tile table may come later: `table_arrived`)."""
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

    def table_arrived(self, level: int) -> bool:
        """Whether the level's tile table has arrived (where its tiles lie, and which
        OpenSlide draws from elsewhere); a typed SlideError for a table that arrived
        broken (absurd values, tiles beyond the file: the finished file fails the same)."""
        if level in self._tables:
            return True
        lv = self._level(level)
        if not all(self.received.covers(start, end) for start, end in lv.table):
            return False
        try:
            lv.positions.get()
            lv.missing.get()
        except NotArrivedError:
            return False  # recorded as received before the file holds them: later
        except SlideError as error:
            error.path = str(self.path)
            raise
        self._tables.add(level)
        return True

    def check_tables(self) -> None:
        """Read every tile table whose bytes have arrived: the typed SlideError of one
        that is broken, so the hub refuses the file as soon as it is known."""
        for level in range(len(self.structure.levels)):
            self.table_arrived(level)

    # -- level tiles ---------------------------------------------------------------

    def arrived_tiles(
        self, level: int, window: tuple[int, int, int, int] | None = None
    ) -> np.ndarray:
        """rows x cols booleans: the tiles `read_level_tile` can return now; of the tiles
        [t_col0, t_col1) x [t_row0, t_row1) only if `window` (t_col0, t_row0, t_col1,
        t_row1) is given (what one Deep Zoom tile needs: cheap on a large level)."""
        lv = self._level(level)
        c0, r0, c1, r1 = window if window is not None else (0, 0, lv.cols, lv.rows)
        if not (0 <= c0 <= c1 <= lv.cols and 0 <= r0 <= r1 <= lv.rows):
            raise NotFoundError(f"no tiles {c0}-{c1} x {r0}-{r1} in level {level}")
        if lv.decode_reason is not None or not self.table_arrived(level):
            return np.zeros((r1 - r0, c1 - c0), dtype=bool)
        index = self._indices(lv, c0, r0, c1, r1)
        offsets, counts = lv.offsets[index], lv.counts[index]
        ready = self.received.covers_many(offsets, offsets + counts) & (counts > 0)
        for i, tile in _members(index, lv.fragments, lv.cols, window):
            ready[i] = all(self.received.covers(o, o + n) for o, n in lv.fragments[tile])
        for i, _ in _members(index, lv.drawn_elsewhere, lv.cols, window):
            ready[i] = False
        result: np.ndarray = ready.reshape(r1 - r0, c1 - c0)
        return result

    @staticmethod
    def _indices(lv: LevelStructure, c0: int, r0: int, c1: int, r1: int) -> np.ndarray:
        """Tile indices of a window of the grid, row by row."""
        if (c0, r0, c1, r1) == (0, 0, lv.cols, lv.rows):
            return np.arange(lv.cols * lv.rows)
        rows = np.arange(r0, r1, dtype=np.int64)[:, None] * lv.cols
        result: np.ndarray = (rows + np.arange(c0, c1, dtype=np.int64)[None, :]).ravel()
        return result

    def missing_ranges(
        self, level: int, window: tuple[int, int, int, int]
    ) -> list[tuple[int, int]]:
        """The byte ranges, in file order and merged where they touch, that the tiles of
        `window` (as in `arrived_tiles`) still wait for: the level's tile table first
        (which tells where the tiles lie), then their own bytes. Tiles drawn from
        elsewhere or stored in a codec the hub does not decode wait for nothing here."""
        lv = self._level(level)
        if lv.decode_reason is not None:
            return []
        if not self.table_arrived(level):
            table = _merged(list(lv.table))
            return [gap for start, end in table for gap in self.received.missing(start, end)]
        c0, r0, c1, r1 = window
        waiting = self._indices(lv, c0, r0, c1, r1)[~self.arrived_tiles(level, window).ravel()]
        pieces: list[tuple[int, int]] = []
        for tile in map(int, waiting):
            if tile not in lv.drawn_elsewhere:
                pieces += [(o, o + n) for o, n in self._pieces(lv, tile) if n > 0]
        merged = _merged(pieces)
        return [gap for start, end in merged for gap in self.received.missing(start, end)]

    def tiles_in(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """(level, t_col, t_row) of every level tile with bytes in [start, end), of the
        levels whose tile table has arrived."""
        result = []
        for level, lv in enumerate(self.structure.levels):
            if not self.table_arrived(level):
                continue
            starts, ends, tiles, longest = self._tile_index(level, lv)
            lo = int(np.searchsorted(starts, start - longest, side="right"))
            hi = int(np.searchsorted(starts, end, side="left"))
            found = {int(t) for t in tiles[lo:hi][ends[lo:hi] > start]}
            result += [(level, tile % lv.cols, tile // lv.cols) for tile in sorted(found)]
        return result

    def _tile_index(
        self, level: int, lv: LevelStructure
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The level's tiles' byte pieces sorted by start: starts, ends, tile, and the
        longest piece (how far before a range a piece can start)."""
        with self._lock:
            index = self._by_offset.get(level)
            if index is None:
                stored = np.flatnonzero(lv.counts > 0)
                starts = [lv.offsets[stored]]
                ends = [lv.offsets[stored] + lv.counts[stored]]
                keys = [stored]
                for tile, pieces in lv.fragments.items():
                    starts.append(np.array([o for o, _ in pieces], dtype=np.int64))
                    ends.append(np.array([o + n for o, n in pieces], dtype=np.int64))
                    keys.append(np.full(len(pieces), tile))
                all_starts = np.concatenate(starts).astype(np.int64)
                order = np.argsort(all_starts, kind="stable")
                all_ends = np.concatenate(ends).astype(np.int64)[order]
                longest = int((all_ends - all_starts[order]).max()) if len(order) else 0
                index = self._by_offset[level] = (
                    all_starts[order],
                    all_ends,
                    np.concatenate(keys).astype(np.int64)[order],
                    longest,
                )
            return index

    def has_level_tile(self, level: int, t_col: int, t_row: int) -> bool:
        lv, tile = self._tile(level, t_col, t_row)
        if lv.decode_reason is not None or not self.table_arrived(level):
            return False
        if tile in lv.drawn_elsewhere:
            return False
        return all(self.received.covers(o, o + n) for o, n in self._pieces(lv, tile))

    def _tile(self, level: int, t_col: int, t_row: int) -> tuple[LevelStructure, int]:
        lv = self._level(level)
        if not (0 <= t_col < lv.cols and 0 <= t_row < lv.rows):
            raise NotFoundError(f"no tile {t_col},{t_row} in level {level}")
        return lv, t_row * lv.cols + t_col

    @staticmethod
    def _pieces(lv: LevelStructure, tile: int) -> tuple[tuple[int, int], ...]:
        pieces = lv.fragments.get(tile) if lv.fragments else None
        return pieces or ((int(lv.offsets[tile]), int(lv.counts[tile])),)

    def read_level_tile(self, level: int, t_col: int, t_row: int) -> np.ndarray | None:
        """The tile's pixels (HxWx3, or HxWx4 RGBX for a reader of 4 channels; clipped to
        the level; shared: do not write to them),
        None until its bytes arrive. `NotDecodableError` for tiles only OpenSlide draws;
        `NotFoundError` off the grid; `BrokenSlideError` for bytes that are not a tile."""
        lv, tile = self._tile(level, t_col, t_row)
        if lv.decode_reason is not None:
            raise NotDecodableError(lv.decode_reason)
        if not self.table_arrived(level):
            return None
        if tile in lv.drawn_elsewhere:
            raise NotDecodableError(
                f"tile {t_col},{t_row} of level {level} has no bytes of its own in the file"
            )
        pieces = self._pieces(lv, tile)
        limit = 2 * 3 * lv.tile_width * lv.tile_height + (1 << 20)
        if len(pieces) == 1:  # the usual case, on every tile request: no generators
            ((offset, count),) = pieces
            if count > limit:
                raise BrokenSlideError(
                    f"tile {t_col},{t_row} of level {level} claims too many bytes"
                )
            if not self.received.covers(offset, offset + count):
                return None
            data = self._read_at(offset, count, arrived=True)
        else:
            if sum(n for _, n in pieces) > limit:
                raise BrokenSlideError(
                    f"tile {t_col},{t_row} of level {level} claims too many bytes"
                )
            if not all(self.received.covers(o, o + n) for o, n in pieces):
                return None
            data = b"".join([self._read_at(o, n, arrived=True) for o, n in pieces])
        with self._lock:
            recent = self._same_bytes.setdefault(level, OrderedDict())
            pixels = recent.get(data)
            if pixels is not None:
                recent.move_to_end(data)
        if pixels is None:
            pixels = self._decode(lv, data, t_col, t_row, self.channels)
            pixels.flags.writeable = False
            with self._lock:
                recent[data] = pixels
                if len(recent) > SAME_BYTES:
                    recent.popitem(last=False)
        width = min(lv.tile_width, lv.width - t_col * lv.tile_width)
        height = min(lv.tile_height, lv.height - t_row * lv.tile_height)
        if (height, width) == pixels.shape[:2]:
            return pixels
        return np.ascontiguousarray(pixels[:height, :width])

    @staticmethod
    def _decode(
        lv: LevelStructure, data: bytes, t_col: int, t_row: int, channels: int
    ) -> np.ndarray:
        """A whole tile (tile_height x tile_width x channels) from its bytes, as
        OpenSlide decodes it; a typed error if the bytes are not such a tile."""
        size = (lv.tile_width, lv.tile_height)
        if lv.codec == "raw-rgb":
            if len(data) != 3 * size[0] * size[1]:
                raise BrokenSlideError(f"frame {t_col},{t_row} has {len(data)} bytes")
            rgb = np.frombuffer(data, np.uint8).reshape(size[1], size[0], 3)
            if channels == 3:
                return rgb
            rgbx = np.full((size[1], size[0], 4), 255, np.uint8)
            rgbx[..., :3] = rgb
            return rgbx
        return decode_tile(data, lv.jpeg_tables, lv.jpeg_colorspace, size, channels)

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
