"""Which bytes of a slide file hold what: the plan for sending a slide in the order a
pathologist needs it (structure and small images first, then low-resolution levels,
then full-resolution tiles).

Every byte belongs to exactly one range, ranges sorted and contiguous from 0 to the
file's size:

- `structure`: TIFF header, directories and out-of-line tag values; DICOM preamble,
  file meta, data set up to Pixel Data, item headers and offset tables. With
  `needed_by` empty, what every reader needs first (the hub describes the slide once
  it has arrived); else a level's tile table (TIFF TileOffsets and TileByteCounts), which
  only the tiles of the levels `needed_by` wait for (an Aperio slide's byte counts are
  needed by every coarser level too: a tile missing from a finer level is drawn from it,
  and so is the coarser tile over it).
- `associated` (with `name`): the strips or tiles of a label, macro or thumbnail.
- `tile` (with `tiles`): one level tile's compressed bytes, levels numbered as
  OpenSlide numbers them. A writer that stores one blank tile once and points many
  tiles at it gives one range whose `tiles` lists them all.
- `unused`: image data of directories or frames OpenSlide never reads.
- `other`: bytes nothing points at (padding, free space, trailing elements).

A file OpenSlide would not open, or a vendor we do not map, raises a typed
`SlideError`: such a file is sent in byte order.
"""

from __future__ import annotations

import bisect
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

from tiler.dicom_slide import dicom_structure
from tiler.errors import BrokenSlideError, SlideError, UnsupportedFormatError
from tiler.slide_structure import SlideStructure
from tiler.tiff_directories import ReadAt, TiffDirectories
from tiler.tiff_slide import tiff_structure

RangeKind = Literal["structure", "associated", "tile", "unused", "other"]


class TileKey(NamedTuple):
    level: int
    t_col: int
    t_row: int


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int
    kind: RangeKind
    #: The associated image's name (label, macro, thumbnail), for `associated` ranges.
    name: str | None = None
    #: Every level tile these bytes are (several when a writer shares one blank tile).
    tiles: tuple[TileKey, ...] = ()
    #: For `structure` ranges: the levels whose tiles wait for these bytes (see above).
    needed_by: tuple[int, ...] = ()

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def level(self) -> int | None:
        """A tile's level; for a level's tile table the coarsest level that needs it."""
        if self.tiles:
            return self.tiles[0].level
        return max(self.needed_by) if self.needed_by else None

    @property
    def t_col(self) -> int | None:
        return self.tiles[0].t_col if self.tiles else None

    @property
    def t_row(self) -> int | None:
        return self.tiles[0].t_row if self.tiles else None


@dataclass(frozen=True, slots=True)
class LevelLayout:
    width: int
    height: int
    tile_width: int
    tile_height: int
    downsample: float
    codec: str
    #: None when the hub decodes this level's tiles itself, else why not.
    decode_reason: str | None


@dataclass(frozen=True)
class FileLayout:
    size: int
    container: str  # "tiff", "bigtiff" or "dicom"
    vendor: str  # OpenSlide's vendor name
    levels: tuple[LevelLayout, ...]
    associated: tuple[str, ...]
    ranges: tuple[ByteRange, ...]
    _by_tile: dict[TileKey, ByteRange] = field(default_factory=dict, repr=False, compare=False)

    def bytes_by_kind(self) -> dict[str, int]:
        totals = dict.fromkeys(("structure", "associated", "tile", "unused", "other"), 0)
        for r in self.ranges:
            totals[r.kind] += r.length
        return totals

    def level_bytes(self, kind: str = "tile") -> list[int]:
        """Bytes each level's tiles (or, with `kind="structure"`, tile tables) add when
        levels are sent coarsest first (a range several levels share counts for the
        coarsest)."""
        totals = [0] * len(self.levels)
        for r in self.ranges:
            if r.kind == kind and r.level is not None:
                totals[max(t.level for t in r.tiles) if r.tiles else r.level] += r.length
        return totals

    def describing_bytes(self) -> int:
        """The structure every reader needs: once in, the hub describes the slide."""
        return sum(r.length for r in self.ranges if r.kind == "structure" and not r.needed_by)

    def range_of_tile(self, level: int, t_col: int, t_row: int) -> ByteRange | None:
        """The (first) range holding a tile's bytes; None for a tile the file does not store."""
        if not self._by_tile:
            for r in self.ranges:
                for key in r.tiles:
                    self._by_tile.setdefault(key, r)
        return self._by_tile.get(TileKey(level, t_col, t_row))


def progressive_reason(layout: FileLayout) -> str | None:
    """None when the hub decodes every level's tiles itself (8-bit RGB/YCbCr JPEG as
    OpenSlide decodes them directly, DICOM JPEG baseline or uncompressed RGB), else a
    one-line reason the slide can only be shown once it has fully arrived."""
    for index, level in enumerate(layout.levels):
        if level.decode_reason is not None:
            return f"level {index}: {level.decode_reason}"
    return None


def read_structure(read_at: ReadAt, size: int, *, complete: bool = True) -> SlideStructure:
    """The slide's structure from its structure bytes alone (TIFF or DICOM).
    `complete=False` leaves out what only the byte layout needs (TIFF sub-directories)."""
    if size >= 4 and read_at(0, 4)[:2] in (b"II", b"MM"):
        return tiff_structure(TiffDirectories(read_at, size, sub_directories=complete))
    if size >= 132 and read_at(128, 4) == b"DICM":
        return dicom_structure(read_at, size)
    raise UnsupportedFormatError("not a TIFF or DICOM file (MIRAX, CZI, VMS are not mapped)")


def file_layout(path: str | os.PathLike[str]) -> FileLayout:
    """The byte layout of a finished slide file, or a typed SlideError."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as error:
        raise SlideError(f"not a readable file: {path.name}", path=str(path)) from error
    try:
        size = os.fstat(fd).st_size

        def read_at(offset: int, length: int) -> bytes:
            if offset < 0 or length < 0 or offset + length > size:
                raise BrokenSlideError(f"read of bytes {offset}+{length} beyond the file's end")
            data = os.pread(fd, length, offset)
            if len(data) != length:
                raise BrokenSlideError("the file shrank while being read")
            return data

        if (
            size >= 132
            and read_at(0, 2) in (b"II", b"MM")
            and read_at(128, 4) == b"DICM"
            and path.suffix.lower() not in (".tif", ".tiff")
        ):
            # OpenSlide reads these as DICOM; their TIFF side need not agree with it.
            raise UnsupportedFormatError(
                f"{path.name}: a dual-personality DICOM-TIFF file is not mapped"
            )
        try:
            structure = read_structure(read_at, size)
        except SlideError as error:
            error.path = str(path)
            raise
        return layout_of(structure, size)
    finally:
        os.close(fd)


_RANK = {"associated": 0, "tile": 1, "unused": 2}


def layout_of(structure: SlideStructure, size: int) -> FileLayout:
    """Partition [0, size) from a slide's structure (see the module docstring)."""
    data: list[tuple[int, int, str, object]] = []
    for index, level in enumerate(structure.levels):
        cols = level.cols
        stored = level.counts > 0
        for tile in map(int, stored.nonzero()[0]):
            key = TileKey(index, tile % cols, tile // cols)
            pieces = level.fragments.get(tile)
            if pieces is None:
                start = int(level.offsets[tile])
                data.append((start, start + int(level.counts[tile]), "tile", key))
            else:
                data += [(o, o + n, "tile", key) for o, n in pieces]
    for image in structure.associated:
        data += [(o, o + n, "associated", image.name) for o, n in image.extents]
    data += [(start, end, "unused", None) for start, end in structure.unused]
    for start, end, _, _ in data:
        if start < 0 or end > size:
            raise BrokenSlideError(f"image data at bytes {start}-{end} lies outside the file")
    data.sort(key=lambda item: (item[0], item[1]))
    outline = _structure_union(structure.structure, size)
    tables = _tables(structure, outline)
    ranges = _fill_end(_merge(outline, tables, _shared(data)), size)
    levels = tuple(
        LevelLayout(
            lv.width,
            lv.height,
            lv.tile_width,
            lv.tile_height,
            lv.downsample,
            lv.codec,
            lv.decode_reason,
        )
        for lv in structure.levels
    )
    return FileLayout(
        size=size,
        container=structure.container,
        vendor=structure.vendor,
        levels=levels,
        associated=tuple(a.name for a in structure.associated),
        ranges=tuple(ranges),
    )


def _structure_union(extents: list[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, end in sorted(e for e in extents if e[1] > e[0]):
        end = min(end, size)
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def _tables(structure: SlideStructure, outline: list[tuple[int, int]]) -> list[ByteRange]:
    """Each level's tile table as `structure` ranges naming the levels that need its
    bytes; bytes the structure every reader needs holds too are left to it."""
    claims = [
        (start, end, index)
        for index, level in enumerate(structure.levels)
        for start, end in level.table
        if end > start
    ]
    cuts = sorted({at for start, end, _ in claims for at in (start, end)})
    ends = [end for _, end in outline]
    pieces: list[ByteRange] = []
    for start, end in itertools.pairwise(cuts):
        levels = tuple(sorted({i for s, e, i in claims if s <= start and end <= e}))
        for gap_start, gap_end in _outside(start, end, outline, ends) if levels else []:
            last = pieces[-1] if pieces else None
            if last is not None and last.end == gap_start and last.needed_by == levels:
                pieces[-1] = ByteRange(last.start, gap_end, "structure", needed_by=levels)
            else:
                pieces.append(ByteRange(gap_start, gap_end, "structure", needed_by=levels))
    return pieces


def _outside(
    start: int, end: int, merged: list[tuple[int, int]], ends: list[int]
) -> list[tuple[int, int]]:
    """The parts of [start, end) outside the sorted, disjoint extents `merged` (whose
    ends are `ends`)."""
    gaps, position = [], start
    for s, e in merged[bisect.bisect_right(ends, start) :]:
        if s >= end:
            break
        if s > position:
            gaps.append((position, s))
        position = max(position, e)
    if position < end:
        gaps.append((position, end))
    return gaps


def _shared(data: list[tuple[int, int, str, object]]) -> list[ByteRange]:
    """One range per distinct extent (users of identical bytes grouped); any other
    overlap between image data is a broken file."""
    ranges: list[ByteRange] = []
    i = 0
    while i < len(data):
        start, end = data[i][0], data[i][1]
        j = i
        while j < len(data) and data[j][0] == start and data[j][1] == end:
            j += 1
        group = data[i:j]
        if ranges and start < ranges[-1].end:
            raise BrokenSlideError(
                f"image data at bytes {start}-{end} overlaps bytes {ranges[-1].start}-"
                f"{ranges[-1].end}"
            )
        kind = min((item[2] for item in group), key=_RANK.__getitem__)
        names = [str(item[3]) for item in group if item[2] == "associated"]
        tiles = tuple(item[3] for item in group if item[2] == "tile")
        ranges.append(
            ByteRange(start, end, kind, names[0] if names else None, tiles)  # type: ignore[arg-type]
        )
        i = j
    return ranges


def _merge(
    structure: list[tuple[int, int]], tables: list[ByteRange], data: list[ByteRange]
) -> list[ByteRange]:
    """Interleave structure and image ranges, refuse overlaps, fill gaps with `other`,
    and join neighbouring ranges of one associated image (or of unused data)."""
    result: list[ByteRange] = []
    position = 0
    items = sorted(
        [ByteRange(s, e, "structure") for s, e in structure] + tables + data,
        key=lambda r: (r.start, r.end),
    )
    for item in items:
        if item.start < position:
            previous = result[-1]
            raise BrokenSlideError(
                f"{item.kind} bytes {item.start}-{item.end} overlap {previous.kind} bytes "
                f"{previous.start}-{previous.end}"
            )
        if item.start > position:
            result.append(ByteRange(position, item.start, "other"))
        last = result[-1] if result else None
        if (
            last is not None
            and last.end == item.start
            and last.kind == item.kind
            and item.kind in ("structure", "associated", "unused")
            and last.name == item.name
            and last.needed_by == item.needed_by
        ):
            result[-1] = ByteRange(
                last.start, item.end, last.kind, last.name, needed_by=last.needed_by
            )
        else:
            result.append(item)
        position = item.end
    return result


def _fill_end(ranges: list[ByteRange], size: int) -> list[ByteRange]:
    end = ranges[-1].end if ranges else 0
    return [*ranges, ByteRange(end, size, "other")] if end < size else ranges
