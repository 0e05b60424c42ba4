"""What a slide file's structure says, as OpenSlide will read it: levels with the byte
extent of every tile, associated images, metadata, and which bytes are structure.

Built by `tiff_slide` and `dicom_slide` from the structure bytes alone, so the same
result comes from a finished file and from one whose tiles are still arriving. The
byte layout and the partial reader are both views of it.

In stages: the structure every reader needs (TIFF header, directories and their small
values; the DICOM data set) gives the slide's metadata and tile grids. A level's tile
table (its TIFF TileOffsets and TileByteCounts arrays, 8 or 16 bytes a tile: most of a
pyramid's structure) is read on first use (`Deferred`), so a slide still arriving is
described, and its coarse levels drawn, before the full resolution's table is in.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

import numpy as np

from tiler import hardening
from tiler.errors import BrokenSlideError, NotArrivedError, SlideError, SlideTooLargeError
from tiler.openslide_reader import _calibration, _float_property
from tiler.reasons import N_
from tiler.slide import Level, SlideInfo
from tiler.tiff_directories import TiffDirectories

JpegColorspace = Literal["rgb", "ycbcr"]

#: Tiles in one level we accept: a 200k x 200k scan in 240-pixel tiles has 0.7 million.
MAX_TILES = 1 << 22

Extent = tuple[int, int]
T = TypeVar("T")


class Deferred(Generic[T]):
    """A value read from bytes that may not have arrived yet (a level's tile table):
    computed on first use; `NotArrivedError` until those bytes are in (asked again
    later); then kept, and so is a `SlideError` it raised (the bytes will not change).
    Thread-safe."""

    def __init__(self, compute: Callable[[], T]) -> None:
        self._compute = compute
        self._lock = threading.Lock()
        self._done = False
        self._value: T | None = None
        self._failure: SlideError | None = None

    @classmethod
    def known(cls, value: T) -> Deferred[T]:
        deferred = cls(lambda: value)
        deferred._value, deferred._done = value, True
        return deferred

    def get(self) -> T:
        if not self._done:  # set once, after the value: no lock needed to read it
            with self._lock:
                if not self._done:
                    if self._failure is not None:
                        raise self._failure
                    try:
                        self._value = self._compute()
                    except SlideError as error:
                        self._failure = error
                        raise
                    self._done = True
        return self._value  # type: ignore[return-value]


@dataclass(frozen=True, eq=False)
class TilePositions:
    """Where each tile of a level lies: tile index `t_row * cols + t_col`; a tile with
    count 0 has no bytes in the file."""

    offsets: np.ndarray
    counts: np.ndarray
    #: DICOM frames split over several fragments: their (offset, length) pieces.
    fragments: Mapping[int, tuple[tuple[int, int], ...]] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class LevelStructure:
    """One slide level as OpenSlide numbers it, and where each of its tiles lies."""

    width: int
    height: int
    tile_width: int
    tile_height: int
    downsample: float
    #: "jpeg", "jpeg2000", "raw-rgb" (uncompressed DICOM frames), or the TIFF codec name.
    codec: str
    #: Read from `table` on first use.
    positions: Deferred[TilePositions]
    #: Tiles OpenSlide does not draw from their own bytes: absent from the file (left
    #: transparent), or, in Aperio slides, drawn from the level above (read from `table`).
    missing: Deferred[frozenset[int]]
    #: The bytes `positions` and `missing` are read from, beyond the structure every
    #: reader needs: the level's tile offsets and byte counts and, in an Aperio slide,
    #: the byte counts of every finer level (a tile missing there is drawn from the
    #: finer level, and so is the tile above it here). Empty: known with the structure.
    table: tuple[Extent, ...] = ()
    #: None when the hub decodes these tiles itself; else why only OpenSlide can.
    decode_reason: str | None = None
    #: The colour space OpenSlide forces on the JPEG decoder (from the TIFF/DICOM
    #: photometric interpretation, whatever markers the JPEG stream carries).
    jpeg_colorspace: JpegColorspace = "ycbcr"
    jpeg_tables: bytes | None = None

    @property
    def offsets(self) -> np.ndarray:
        return self.positions.get().offsets

    @property
    def counts(self) -> np.ndarray:
        return self.positions.get().counts

    @property
    def fragments(self) -> Mapping[int, tuple[tuple[int, int], ...]]:
        return self.positions.get().fragments

    @property
    def drawn_elsewhere(self) -> frozenset[int]:
        return self.missing.get()

    @property
    def drawn_elsewhere_so_far(self) -> frozenset[int]:
        """The tiles known to be drawn elsewhere: none while `table` has not arrived
        (as in nearly every scan; a slide still arriving checks it once it has)."""
        try:
            return self.missing.get()
        except NotArrivedError:
            return frozenset()

    @property
    def cols(self) -> int:
        return -(-self.width // self.tile_width)

    @property
    def rows(self) -> int:
        return -(-self.height // self.tile_height)


@dataclass(frozen=True, eq=False)
class AssociatedStructure:
    """A label, macro or thumbnail image and the byte extents of its strips or tiles."""

    name: str
    width: int
    height: int
    extents: tuple[tuple[int, int], ...]
    #: Index of its TIFF directory in the main chain.
    directory: int


@dataclass(frozen=True, eq=False)
class SlideStructure:
    container: str  # "tiff", "bigtiff" or "dicom"
    vendor: str
    levels: tuple[LevelStructure, ...]
    associated: tuple[AssociatedStructure, ...]
    #: The OpenSlide properties we can compute from the structure (no quickhash).
    properties: Mapping[str, str]
    #: [start, end) extents every reader needs before anything else: headers,
    #: directories, tag values but the levels' tile tables (`LevelStructure.table`),
    #: DICOM data set, item headers and offset tables.
    structure: list[Extent]
    #: [start, end) extents of image data OpenSlide never reads (other pages, frames).
    unused: list[tuple[int, int]]
    #: The TIFF's directories (associated images are decoded from them), None for DICOM.
    tiff: TiffDirectories | None = None

    def info(self) -> SlideInfo:
        """The metadata `OpenSlideSlide` reports for the finished file."""
        props = self.properties
        base = self.levels[0]
        return SlideInfo(
            vendor=self.vendor,
            width=base.width,
            height=base.height,
            levels=[Level(lv.width, lv.height, lv.downsample) for lv in self.levels],
            mpp_x=_calibration(props, "openslide.mpp-x"),
            mpp_y=_calibration(props, "openslide.mpp-y"),
            objective_power=_float_property(props, "openslide.objective-power"),
            associated=sorted(a.name for a in self.associated),
            properties=dict(props),
        )


def check_level_size(width: int, height: int, tile_width: int, tile_height: int) -> None:
    """Refuse empty, absurd or unaddressable level geometry before allocating anything."""
    if width <= 0 or height <= 0:
        raise BrokenSlideError(f"empty level ({width}x{height})")
    if tile_width <= 0 or tile_height <= 0:
        raise BrokenSlideError(f"bad tile size {tile_width}x{tile_height}")
    if width * height > hardening.MAX_SLIDE_PIXELS or max(width, height) > hardening.MAX_SIDE:
        raise SlideTooLargeError(
            N_("{width}x{height} pixels is beyond the accepted size", width=width, height=height)
        )
    if tile_width * tile_height > hardening.MAX_DECODE_PIXELS:
        raise SlideTooLargeError(
            N_(
                "{tile_width}x{tile_height} tiles are beyond the accepted size",
                tile_width=tile_width,
                tile_height=tile_height,
            )
        )
    tiles = -(-width // tile_width) * -(-height // tile_height)
    if tiles > MAX_TILES:
        raise SlideTooLargeError(
            N_("{tiles} tiles in one level is beyond the accepted count", tiles=tiles)
        )


def downsamples(sizes: list[tuple[int, int]]) -> list[float]:
    """Level downsamples exactly as openslide.c computes them, refusing what it refuses."""
    base_w, base_h = sizes[0]
    result = [1.0] + [(base_h / h + base_w / w) / 2.0 for w, h in sizes[1:]]
    for previous, current in itertools.pairwise(result):
        if current < previous:
            raise BrokenSlideError("downsampled images are not correctly ordered")
    return result


def format_double(value: float) -> str:
    """A double as OpenSlide writes it in properties (g_ascii_dtostr: "%.17g")."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return format(value, ".17g")


_DOUBLE = re.compile(
    r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan(?:\([0-9a-zA-Z_]*\))?)",
    re.IGNORECASE,
)


def parse_double(text: str) -> float | None:
    """`_openslide_parse_double`: commas become points, the whole string must be one
    number (leading spaces allowed, trailing not), overflow and underflow are refused."""
    canonical = text.replace(",", ".")
    if not canonical or _DOUBLE.fullmatch(canonical) is None:
        return None
    value = float(canonical)
    literal = canonical.strip().lstrip("+-").lower()
    if math.isinf(value) and not literal.startswith("inf"):
        return None  # ERANGE overflow
    if value != 0 and abs(value) < 2.2250738585072014e-308:
        return None  # ERANGE underflow
    if value == 0 and any(c in "123456789" for c in literal.split("e")[0]):
        return None  # underflowed to zero
    return None if math.isnan(value) else value


def level_properties(levels: tuple[LevelStructure, ...]) -> dict[str, str]:
    """openslide.level-count and openslide.level[i].* as openslide.c sets them."""
    props = {"openslide.level-count": str(len(levels))}
    for i, level in enumerate(levels):
        props[f"openslide.level[{i}].width"] = str(level.width)
        props[f"openslide.level[{i}].height"] = str(level.height)
        props[f"openslide.level[{i}].downsample"] = format_double(level.downsample)
        props[f"openslide.level[{i}].tile-width"] = str(level.tile_width)
        props[f"openslide.level[{i}].tile-height"] = str(level.tile_height)
    return props
