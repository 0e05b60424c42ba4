"""Deep Zoom tiles of a slide whose bytes are still arriving.

A tile is *final* once every stored tile of its `source_window` (`tiler.levels`) has
arrived: it is then made by the code that makes a finished slide's tiles
(`SlideTiles` over `SlidePixels`, here with a `PartialSource` that reads level tiles
from the partial file), so it has the finished slide's bytes, and the built
pyramid's. Any other tile is *interim*: its own level's arrived tiles, then coarser
source levels scaled up, then glass (`tiler.interim`); never an error for missing
data. `missing_ranges` names the bytes that make a tile final, `affected` the areas
that bytes just arrived may have changed.

The source levels ("bands") come from the partial slide's metadata by the rule a
finished slide follows when each of its JPEG levels passes OpenSlide's check
(`tiler.jpeg_tiles.jpeg_levels`, `tiler.level_pixels.bands_for`). Should that check
reject a level once the file is complete (a writer whose tiles decode differently
from OpenSlide's pixels; no test file does), the finished slide reads the level
through OpenSlide, or, when its downsample is not an integer, makes that band from
a finer level: tiles served as final may then differ from the finished slide's.
`same_tiles_as(finished)` tells; the hub must then have viewers reload every tile.
The bands are chosen before the levels' tile tables arrive, as if every tile were
stored; a table that shows tiles OpenSlide draws from elsewhere takes its level out
of the JPEG path, and a band whose level OpenSlide then reads only by interpolating
stays interim until the file is complete (no tile of it was final before: a tile is
final only once its level's table is in).

Thread-safe: the caller adds ranges to the same `ReceivedRanges` (after writing the
bytes) while requests run; decoded tiles live in the shared `DecodedCache`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from tiler.arriving_slide import ArrivingSlide, arrived_tile
from tiler.decoded_cache import DecodedCache
from tiler.deepzoom import DEFAULT_OPTIONS, DeepZoomGrid, TileBox, TileOptions
from tiler.errors import NotDecodableError
from tiler.imaging import encode_tile
from tiler.interim import Canvas, StoredLevel
from tiler.jpeg_tiles import jpeg_levels
from tiler.level_pixels import LevelSource, SlidePixels
from tiler.levels import Band, band_of, source_window
from tiler.onthefly import SlideTiles
from tiler.partial import PartialSlide

#: Stored pixels an interim tile reads from one level: its own level down to a
#: reduction by 8; beyond that a coarser level (or glass) stands in.
INTERIM_MAX_PIXELS = 1 << 22
#: The overview: Deep Zoom levels at 1/2**OVERVIEW_SHIFT of full resolution or coarser.
OVERVIEW_SHIFT = 4

Window = tuple[int, int, int, int]


class PartialSource(LevelSource):
    """Level tiles from a partial file: those that have arrived."""

    def __init__(self, partial: PartialSlide) -> None:
        self.partial = partial
        self.jpeg_levels = jpeg_levels(partial.structure)

    def tile_size(self, level: int) -> tuple[int, int]:
        grid = self.partial.tile_grid(level)
        return grid.tile_width, grid.tile_height

    def read_tile(self, level: int, t_col: int, t_row: int) -> np.ndarray:
        return arrived_tile(self.partial, level, t_col, t_row)

    def has_window(self, level: int, x0: int, y0: int, x1: int, y1: int) -> bool:
        window = self.partial.tile_grid(level).covering(x0, y0, x1, y1)
        return bool(self.partial.arrived_tiles(level, window).all())


@dataclass(frozen=True)
class ChangedArea:
    """Deep Zoom tiles that may have changed: at every level z >= z_low, those whose box
    meets level-0 pixels [l0_x0, l0_x1) x [l0_y0, l0_y1)."""

    z_low: int
    l0_x0: int
    l0_y0: int
    l0_x1: int
    l0_y1: int

    def tiles(self, grid: DeepZoomGrid, z: int) -> Window | None:
        """The tiles (col0, row0, col1, row1) of level z it covers, None below z_low."""
        if z < self.z_low:
            return None
        d, size, overlap = grid.downsample(z), grid.tile_size, grid.overlap
        cols, rows = grid.tile_counts(z)
        x0, y0 = self.l0_x0 // d, self.l0_y0 // d
        x1, y1 = -(-self.l0_x1 // d), -(-self.l0_y1 // d)
        # Tile c spans [c * size - overlap, (c + 1) * size + overlap) of its level.
        return (
            max(0, (x0 - overlap) // size),
            max(0, (y0 - overlap) // size),
            min(cols, -(-(x1 + overlap) // size)),
            min(rows, -(-(y1 + overlap) // size)),
        )

    def to_json(self) -> dict[str, int]:
        return {
            "z_low": self.z_low,
            "x": self.l0_x0,
            "y": self.l0_y0,
            "width": self.l0_x1 - self.l0_x0,
            "height": self.l0_y1 - self.l0_y0,
        }


class ArrivingTiles:
    """Deep Zoom tiles of a slide still arriving, in one tile format."""

    def __init__(
        self,
        partial: PartialSlide,
        options: TileOptions = DEFAULT_OPTIONS,
        cache: DecodedCache | None = None,
    ) -> None:
        """`NotArrivedError` until the structure has arrived; `NotDecodableError` for a
        slide whose source levels only OpenSlide decodes (it waits for the whole file)."""
        self.partial = partial
        self.options = options
        cache = cache if cache is not None else DecodedCache()
        self.slide = ArrivingSlide(partial, cache)
        self.pixels = SlidePixels(self.slide, cache, PartialSource(partial))
        self.tiles = SlideTiles(self.slide, options, self.pixels)
        self.grid = self.tiles.grid
        self.bands = self.pixels.bands
        structure = partial.structure
        for band in self.bands:
            reason = structure.levels[band.level].decode_reason
            if reason is not None:
                raise NotDecodableError(f"level {band.level}: {reason}")
        self._levels = {band.level: self._stored_level(band) for band in self.bands}
        self._overview = False
        #: Per band level whose tile table has arrived: whether the finished slide
        #: still makes the band from it (see the module docstring).
        self._sources: dict[int, bool] = {}

    def _stored_level(self, band: Band) -> StoredLevel:
        level = band.level

        def tile(t_col: int, t_row: int) -> np.ndarray:
            # The cache entries the final tiles' anchors are read from.
            return self.pixels.level_tile(level, t_col, t_row)

        return self.slide.stored_level(level, band.factor, clamp=True, tile=tile)

    def dzi_xml(self) -> str:
        return self.tiles.dzi_xml()

    # -- tiles -----------------------------------------------------------------------

    def _window(self, z: int, col: int, row: int) -> tuple[Band, TileBox, Window]:
        """The tile's band, box, and the stored tiles it is made from (NotFoundError off
        the grid)."""
        box = self.grid.tile_box(z, col, row)
        band = band_of(self.bands, z)
        x0, y0, x1, y1 = source_window(band, self.grid, box)
        return band, box, self.partial.tile_grid(band.level).covering(x0, y0, x1, y1)

    def _arrived(self, band: Band, window: Window | None = None) -> bool:
        arrived = bool(self.partial.arrived_tiles(band.level, window).all())
        return arrived and self._still_a_source(band.level)

    def _still_a_source(self, level: int) -> bool:
        """Whether the finished slide makes this level's band from it, as far as its
        tile table (arrived) tells: a level with tiles OpenSlide draws from elsewhere is
        no JPEG level, and without an integer downsample no source at all."""
        known = self._sources.get(level)
        if known is None:
            arrived = self.partial.table_arrived(level)  # first: then jpeg_levels knows
            downsample = self.slide.info.levels[level].downsample
            known = downsample == int(downsample) or level in jpeg_levels(self.partial.structure)
            if arrived:
                self._sources[level] = known
        return known

    def is_final(self, z: int, col: int, row: int) -> bool:
        band, _, window = self._window(z, col, row)
        return self._arrived(band, window)

    def tile(self, z: int, col: int, row: int) -> tuple[bytes, bool]:
        """The encoded tile and whether it is final (the finished slide's bytes);
        NotFoundError outside the grid, a SlideError for a tile whose bytes do not
        decode."""
        band, box, window = self._window(z, col, row)
        if not self._arrived(band, window):
            pixels = self._interim(band, box)
            if not self._arrived(band, window):  # nor while it was being painted
                return encode_tile(pixels, self.options), False
        return self.tiles.tile(z, col, row), True

    def _interim(self, band: Band, box: TileBox) -> np.ndarray:
        d = self.grid.downsample(box.z)
        background = self.slide.background_rgb
        canvas = Canvas(box.z_x * d, box.z_y * d, d, (box.width, box.height), background)
        for source in self.bands[self.bands.index(band) :]:  # its own level, then coarser
            canvas.paint(self._levels[source.level], INTERIM_MAX_PIXELS)
            if canvas.complete:
                break
        return canvas.pixels

    def missing_ranges(self, z: int, col: int, row: int) -> list[tuple[int, int]]:
        """The byte ranges that make the tile final, in file order (all of its own
        source level: the finest data it needs); empty once it is final. A tile over
        a tile the file does not store (drawn by OpenSlide from another level) waits
        for the whole file instead."""
        band, _, window = self._window(z, col, row)
        if self.partial.table_arrived(band.level) and not self._still_a_source(band.level):
            return []
        return self.partial.missing_ranges(band.level, window)

    # -- what changed ----------------------------------------------------------------

    def affected(self, new_ranges: Iterable[tuple[int, int]]) -> list[ChangedArea]:
        """The areas whose tiles may have changed now that `new_ranges` arrived (added to
        the received ranges): one per rectangle of level tiles completed by them, at
        every Deep Zoom level from the lowest their band makes up (their own band's
        tiles, and interim tiles of finer levels that they fill in). A level whose tile
        table they complete is one area: its tiles already in change, and every other
        one now waits for its own bytes (a viewer asking again names them)."""
        new_ranges = list(new_ranges)
        by_band = {band.level: band for band in self.bands}
        windows: dict[int, list[Window]] = {}
        for level in by_band:
            table = self.partial.structure.levels[level].table
            if _touches(table, new_ranges) and self.partial.table_arrived(level):
                grid = self.partial.tile_grid(level)
                windows[level] = [(0, 0, grid.cols, grid.rows)]
        done: dict[int, set[tuple[int, int]]] = {}
        for start, end in new_ranges:
            for level, t_col, t_row in self.partial.tiles_in(start, end):
                if level in by_band and self.partial.has_level_tile(level, t_col, t_row):
                    done.setdefault(level, set()).add((t_col, t_row))
        for level, tiles in done.items():
            if level not in windows:
                windows[level] = merge_tiles(tiles)
        l0_width, l0_height = self.grid.l0_width, self.grid.l0_height
        areas = []
        for level, rectangles in sorted(windows.items()):
            band, grid = by_band[level], self.partial.tile_grid(level)
            f, tw, th = band.factor, grid.tile_width, grid.tile_height
            for c0, r0, c1, r1 in rectangles:
                # Grown by one stored pixel: a coarser level is scaled up bilinearly, and
                # a level one pixel short repeats its last column and row.
                x0, y0 = (c0 * tw - 1) * f, (r0 * th - 1) * f
                x1 = (min(band.l_width, c1 * tw) + 1) * f
                y1 = (min(band.l_height, r1 * th) + 1) * f
                areas.append(
                    ChangedArea(
                        band.z_low,
                        max(0, x0),
                        max(0, y0),
                        min(l0_width, x1),
                        min(l0_height, y1),
                    )
                )
        return areas

    # -- progress --------------------------------------------------------------------

    def overview_final(self) -> bool:
        """Whether every tile at 1/16 of full resolution or coarser is final (the case
        may be claimed)."""
        if not self._overview:
            z_top = max(0, self.grid.z_max - OVERVIEW_SHIFT)
            self._overview = all(self._arrived(band) for band in self.bands if band.z_low <= z_top)
        return self._overview

    @property
    def received_fraction(self) -> float:
        received = self.partial.received
        return received.received_bytes / received.size if received.size else 1.0

    def close(self) -> None:
        """Free this slide's share of the cache (the partial reader is the caller's)."""
        self.pixels.drop_cached()
        self.slide.close()

    def same_tiles_as(self, finished: SlidePixels) -> bool:
        """Whether the finished slide makes every tile as this did: the same bands, and
        each band level this decoded from its JPEG tiles passed OpenSlide's check."""
        decoded = {band.level for band in self.bands} & self.pixels.jpeg_levels
        return finished.bands == self.bands and decoded <= finished.jpeg_levels


def _touches(extents: Iterable[tuple[int, int]], ranges: list[tuple[int, int]]) -> bool:
    return any(s < end and start < e for s, e in extents for start, end in ranges)


def merge_tiles(tiles: set[tuple[int, int]]) -> list[Window]:
    """Rectangles (col0, row0, col1, row1) covering exactly `tiles`: runs along each row,
    joined with the same run on the rows below."""
    rows: dict[int, list[int]] = {}
    for t_col, t_row in tiles:
        rows.setdefault(t_row, []).append(t_col)
    done: list[Window] = []
    open_runs: dict[tuple[int, int], int] = {}  # (col0, col1) -> first row
    for t_row in sorted(rows):
        runs = []
        cols = sorted(rows[t_row])
        start = previous = cols[0]
        for t_col in cols[1:]:
            if t_col != previous + 1:
                runs.append((start, previous + 1))
                start = t_col
            previous = t_col
        runs.append((start, previous + 1))
        continued = {}
        for run in runs:
            first = open_runs.pop(run, None)
            continued[run] = t_row if first is None else first
        done += [(c0, first, c1, t_row) for (c0, c1), first in open_runs.items()]
        open_runs = continued
        # A run not continued on the next row closes there; rows with a gap close all.
        if t_row + 1 not in rows:
            done += [(c0, first, c1, t_row + 1) for (c0, c1), first in open_runs.items()]
            open_runs = {}
    return sorted(done)
