"""The pixels of every Deep Zoom level as `tiler.levels` defines them, read from one slide.

`SlidePixels` chooses the source bands once per open slide and answers any window of
any level: the anchor A_0 read from the slide level's stored tiles (decoded tiles
cached and shared between requests), a stage anchor A_m (m >= 1) assembled from
cached chunks of CHUNK x CHUNK pixels, each computed from the 8x larger window of
A_(m-1). A viewer that zooms out of a slide without small levels thus decodes each
source pixel once, whatever the order of its requests, and the pixels are those the
pyramid builder computes.

Where the stored tiles come from is a `LevelSource`: for a finished slide, its JPEG
levels that verified against OpenSlide and OpenSlide for the rest (`SlideSource`);
for a slide still arriving, the tiles that have arrived (`tiler.arriving`). The
arithmetic is this module's either way, so a tile whose source has arrived has the
finished slide's bytes.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from tiler.decoded_cache import DecodedCache
from tiler.deepzoom import DeepZoomGrid, TileBox
from tiler.errors import SlideBridgeError
from tiler.imaging import uniform_colour
from tiler.jpeg_tiles import JpegLevel, JpegPyramid, assemble, verified_levels
from tiler.levels import (
    FRACTION_BITS,
    STAGE_FACTOR,
    Axis,
    Band,
    band_of,
    box_reduce,
    clamp_indices,
    source_bands,
    stored_rect,
)
from tiler.slide import Slide, SlideInfo

#: Side of the cached chunks of a stage anchor A_m (m >= 1) and of the virtual tiles a
#: level read through OpenSlide is cut into.
CHUNK = 256
OPENSLIDE_TILE = 512

Reader = Callable[[int, int, int, int], np.ndarray]


def bands_for(info: SlideInfo, jpeg_levels: Iterable[int]) -> list[Band]:
    """The source bands of a slide given the levels decoded from their own JPEG tiles
    (`tiler.levels`): those, and the levels OpenSlide reads exactly at any position
    (an integer downsample; it interpolates reads that do not start at the origin of
    any other level)."""
    jpeg = set(jpeg_levels)
    levels = info.levels
    grid = DeepZoomGrid(info.width, info.height)
    return source_bands(
        info,
        grid,
        lambda index: index in jpeg or levels[index].downsample == int(levels[index].downsample),
    )


class LevelSource(ABC):
    """The stored tiles of a slide's levels, which `SlidePixels` reads its anchors from."""

    #: Levels decoded from their own JPEG tiles (see `bands_for`).
    jpeg_levels: frozenset[int] = frozenset()

    @abstractmethod
    def tile_size(self, level: int) -> tuple[int, int]:
        """(width, height) of the tiles `read_tile` cuts the level into."""

    @abstractmethod
    def read_tile(self, level: int, t_col: int, t_row: int) -> np.ndarray:
        """A tile's pixels (HxWx3 uint8: at least its part inside the level)."""

    def has_window(self, level: int, x0: int, y0: int, x1: int, y1: int) -> bool:
        """Whether every stored tile under pixels [x0, x1) x [y0, y1) of the level can
        be read now (a slide still arriving may lack some)."""
        return True

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the source's files."""


class _RawDecodeError(Exception):
    """A JPEG tile of the slide did not decode."""


class SlideSource(LevelSource):
    """A finished slide's levels: the JPEG levels `raw` (verified against OpenSlide)
    from their own tiles, the others through OpenSlide in virtual tiles."""

    def __init__(self, slide: Slide, raw: JpegPyramid | None) -> None:
        self.slide = slide
        self.raw = raw
        self.jpeg_levels = frozenset(raw.levels) if raw is not None else frozenset()

    def _raw(self, level: int) -> JpegLevel | None:
        return self.raw.levels.get(level) if self.raw is not None else None

    def tile_size(self, level: int) -> tuple[int, int]:
        raw = self._raw(level)
        return (raw.tile_width, raw.tile_height) if raw else (OPENSLIDE_TILE, OPENSLIDE_TILE)

    def read_tile(self, level: int, t_col: int, t_row: int) -> np.ndarray:
        raw = self._raw(level)
        if raw is not None:
            try:
                return raw.decode_tile(t_col, t_row)
            except (SlideBridgeError, ValueError, OSError, RuntimeError) as error:
                raise _RawDecodeError(str(error)) from error
        # Only levels with an integer downsample are read through OpenSlide (bands_for).
        stored = self.slide.info.levels[level]
        factor = int(stored.downsample)
        x0, y0 = t_col * OPENSLIDE_TILE, t_row * OPENSLIDE_TILE
        width = min(OPENSLIDE_TILE, stored.width - x0)
        height = min(OPENSLIDE_TILE, stored.height - y0)
        return self.slide.read_rgb((x0 * factor, y0 * factor), level, (width, height))

    def close(self) -> None:
        if self.raw is not None:
            self.raw.close()


class SharedTileColours:
    """`uniform_colour` of the decoded tiles a region lies on alone, remembered per array:
    tiles whose bytes repeat (blank glass) decode to one shared array (`PartialSlide`),
    and so the same few arrays are asked about for most of a slide's blank regions."""

    #: Arrays remembered (each kept alive): a slide has a few blank shades per level.
    KEPT = 16

    def __init__(self) -> None:
        self._known: dict[int, tuple[np.ndarray, bytes | None]] = {}

    def __call__(self, tile: np.ndarray) -> bytes | None:
        known = self._known.get(id(tile))
        if known is not None and known[0] is tile:
            return known[1]
        colour = uniform_colour(tile)
        if len(self._known) >= self.KEPT:
            self._known.clear()
        self._known[id(tile)] = (tile, colour)
        return colour


def level_reader(
    slide: Slide, band: Band, raw: JpegLevel | None, cache: DecodedCache | None = None
) -> Reader:
    """Reads of the band's stored slide level (inside its stored size); JPEG tiles are
    kept in `cache` if given."""
    if raw is not None:
        if cache is None:
            return raw.read_rgb
        level: JpegLevel = raw

        def tile(t_col: int, t_row: int) -> np.ndarray:
            key = (band.level, t_col, t_row)
            return cache.get(key, lambda: level.decode_tile(t_col, t_row))

        colours = SharedTileColours()
        tw, th = level.tile_width, level.tile_height
        return lambda x, y, w, h: assemble(tile, tw, th, x, y, w, h, colours)
    index, factor = band.level, band.factor
    return lambda x, y, w, h: slide.read_rgb((x * factor, y * factor), index, (w, h))


def anchor_reader(band: Band, read: Reader) -> Reader:
    """Reads of the band's anchor A_0: the stored level clamped to the anchor's size."""

    def read_anchor(x: int, y: int, width: int, height: int) -> np.ndarray:
        xs = clamp_indices(x, width, band.l_width)
        ys = clamp_indices(y, height, band.l_height)
        if xs is None and ys is None:
            return read(x, y, width, height)
        sx0, sy0, sx1, sy1 = stored_rect(band, x, y, x + width, y + height)
        pixels = read(sx0, sy0, sx1 - sx0, sy1 - sy0)
        if xs is not None:
            pixels = pixels[:, xs - sx0]
        if ys is not None:
            pixels = pixels[ys - sy0]
        return np.ascontiguousarray(pixels)

    return read_anchor


class SlidePixels:
    """Any window of any Deep Zoom level of one slide; thread-safe.

    `source` gives the stored tiles; by default (a finished slide) its JPEG levels are
    verified against OpenSlide on first use and OpenSlide reads the rest."""

    def __init__(
        self, slide: Slide, cache: DecodedCache | None = None, source: LevelSource | None = None
    ) -> None:
        self.slide = slide
        self.cache = cache if cache is not None else DecodedCache()
        info = slide.info
        self.grid = DeepZoomGrid(info.width, info.height)
        self._lock = threading.Lock()
        self._given = source
        #: The source, its bands, and the key of its entries in the shared cache (kept
        #: alive by the keys), swapped together when the JPEG path is abandoned.
        self._state: tuple[LevelSource, list[Band], object] | None = None

    def _current(self) -> tuple[LevelSource, list[Band], object]:
        state = self._state
        if state is not None:
            return state
        with self._lock:
            if self._state is None:
                source = self._given
                if source is None:
                    path = getattr(self.slide, "path", None)
                    raw = verified_levels(self.slide, Path(path)) if path is not None else None
                    source = SlideSource(self.slide, raw)
                self._state = (source, bands_for(self.slide.info, source.jpeg_levels), object())
            return self._state

    @property
    def source(self) -> LevelSource:
        return self._current()[0]

    @property
    def bands(self) -> list[Band]:
        return self._current()[1]

    @property
    def jpeg_levels(self) -> set[int]:
        """Slide levels read from their own JPEG tiles."""
        return set(self.source.jpeg_levels)

    def tile_pixels(self, box: TileBox) -> np.ndarray:
        """The pixels of one Deep Zoom tile of this slide (any tile size and overlap).

        A JPEG tile that fails to decode ends the raw path for the slide: OpenSlide then
        reads it, and gives the typed error (and the broken mark) if the file is really
        damaged."""
        try:
            return self._tile_pixels(box)
        except _RawDecodeError:
            self._abandon_raw()
            return self._tile_pixels(box)

    def _abandon_raw(self) -> None:
        with self._lock:
            assert self._state is not None
            old_source, _, old_token = self._state
            if not isinstance(old_source, SlideSource) or old_source.raw is None:
                return
            old_source.close()
            source = SlideSource(self.slide, None)
            self._state = (source, bands_for(self.slide.info, ()), object())
        self.cache.drop(old_token)

    def _tile_pixels(self, box: TileBox) -> np.ndarray:
        band = band_of(self.bands, box.z)
        m, i = band.position(box.z)
        scale = 1 << i
        z_m = band.anchor(m)
        x_axis, y_axis = Axis.of(self.grid, z_m)
        x0, y0 = box.z_x * scale, box.z_y * scale
        x1 = min(x_axis.size, (box.z_x + box.width) * scale)
        y1 = min(y_axis.size, (box.z_y + box.height) * scale)
        window = self.window(band, m, x0, y0, x1 - x0, y1 - y0)
        return box_reduce(window, scale, x0, y0, x_axis, y_axis)

    def window(self, band: Band, m: int, x: int, y: int, width: int, height: int) -> np.ndarray:
        """Pixels of A_m of `band` (inside its size): uint8 for m = 0, else uint16 with
        FRACTION_BITS fraction bits."""
        if m == 0:
            return self._anchor_window(band, x, y, width, height)
        source, _, token = self._current()
        # A cached chunk is made from its whole source; where part of that has not
        # arrived, the window is made from its own source alone (the same pixels).
        level_width, level_height = self.grid.level_dimensions(band.anchor(m))
        cx0, cy0 = x // CHUNK * CHUNK, y // CHUNK * CHUNK
        cx1 = min(level_width, -(-(x + width) // CHUNK) * CHUNK)
        cy1 = min(level_height, -(-(y + height) // CHUNK) * CHUNK)
        span = STAGE_FACTOR**m
        if not source.has_window(
            band.level, *stored_rect(band, cx0 * span, cy0 * span, cx1 * span, cy1 * span)
        ):
            return self._reduced(band, m, x, y, x + width, y + height)

        def chunk(c_col: int, c_row: int) -> np.ndarray:
            key = (token, "chunk", band.level, m, c_col, c_row)
            x0, y0 = c_col * CHUNK, c_row * CHUNK
            x1, y1 = min(level_width, x0 + CHUNK), min(level_height, y0 + CHUNK)
            return self.cache.get(key, lambda: self._reduced(band, m, x0, y0, x1, y1))

        return assemble(chunk, CHUNK, CHUNK, x, y, width, height)

    def _reduced(self, band: Band, m: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
        """Pixels [x0, x1) x [y0, y1) of A_m (m >= 1), from the 8x window of A_(m-1)."""
        parent_axes = Axis.of(self.grid, band.anchor(m - 1))
        px0, py0 = x0 * STAGE_FACTOR, y0 * STAGE_FACTOR
        px1 = min(parent_axes[0].size, x1 * STAGE_FACTOR)
        py1 = min(parent_axes[1].size, y1 * STAGE_FACTOR)
        parent = self.window(band, m - 1, px0, py0, px1 - px0, py1 - py0)
        return box_reduce(parent, STAGE_FACTOR, px0, py0, *parent_axes, FRACTION_BITS)

    def _anchor_window(self, band: Band, x: int, y: int, width: int, height: int) -> np.ndarray:
        source, _, token = self._current()
        tw, th = source.tile_size(band.level)

        def tile(t_col: int, t_row: int) -> np.ndarray:
            return self._level_tile(source, token, band.level, t_col, t_row)

        def read(sx: int, sy: int, sw: int, sh: int) -> np.ndarray:
            return assemble(tile, tw, th, sx, sy, sw, sh)

        return anchor_reader(band, read)(x, y, width, height)

    def _level_tile(
        self, source: LevelSource, token: object, level: int, t_col: int, t_row: int
    ) -> np.ndarray:
        key = (token, "tile", level, t_col, t_row)
        return self.cache.get(key, lambda: source.read_tile(level, t_col, t_row))

    def level_tile(self, level: int, t_col: int, t_row: int) -> np.ndarray:
        """A stored tile of the source (`LevelSource.read_tile`), kept in the cache."""
        source, _, token = self._current()
        return self._level_tile(source, token, level, t_col, t_row)

    def remember(self, key: tuple[object, ...], make: Callable[[], np.ndarray]) -> np.ndarray:
        """`make()`, kept in this slide's share of the cache under `key`."""
        return self.cache.get((self._current()[2], *key), make)

    def drop_cached(self) -> None:
        """Free this slide's share of the cache (its file may be read by others still)."""
        if self._state is not None:
            self.cache.drop(self._state[2])

    def close(self) -> None:
        self.drop_cached()
        if self._state is not None:
            self._state[0].close()
