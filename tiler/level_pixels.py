"""The pixels of every Deep Zoom level as `tiler.levels` defines them, read from one slide.

`SlidePixels` chooses the source bands once per open slide (with the JPEG levels
that verified against OpenSlide) and answers any window of any level: the anchor
A_0 read from the slide level (its decoded tiles cached and shared between
requests), a stage anchor A_m (m >= 1) assembled from cached chunks of CHUNK x CHUNK
pixels, each computed from the 8x larger window of A_(m-1). A viewer that zooms out
of a slide without small levels thus decodes each source pixel once, whatever the
order of its requests, and the pixels are those the pyramid builder computes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tiler.decoded_cache import DecodedCache
from tiler.deepzoom import DeepZoomGrid, TileBox
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
)
from tiler.slide import Slide

#: Side of the cached chunks of a stage anchor A_m (m >= 1) and of the virtual tiles a
#: level read through OpenSlide is cut into.
CHUNK = 256
OPENSLIDE_TILE = 512

Reader = Callable[[int, int, int, int], np.ndarray]


def openslide_exact(slide: Slide) -> Callable[[int], bool]:
    """Whether OpenSlide reads a level exactly at any position: its downsample is an
    integer (else it interpolates reads that do not start at its origin)."""
    levels = slide.info.levels
    return lambda index: levels[index].downsample == int(levels[index].downsample)


def bands_for(slide: Slide, raw: JpegPyramid | None) -> list[Band]:
    """The source bands of `slide` given its verified JPEG levels (`tiler.levels`)."""
    exact = openslide_exact(slide)
    jpeg = set(raw.levels) if raw is not None else set()
    grid = DeepZoomGrid(slide.info.width, slide.info.height)
    return source_bands(slide.info, grid, lambda index: index in jpeg or exact(index))


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

        return lambda x, y, w, h: assemble(tile, level.tile_width, level.tile_height, x, y, w, h)
    index, factor = band.level, band.factor
    return lambda x, y, w, h: slide.read_rgb((x * factor, y * factor), index, (w, h))


def anchor_reader(band: Band, read: Reader) -> Reader:
    """Reads of the band's anchor A_0: the stored level clamped to the anchor's size."""

    def read_anchor(x: int, y: int, width: int, height: int) -> np.ndarray:
        xs = clamp_indices(x, width, band.l_width)
        ys = clamp_indices(y, height, band.l_height)
        if xs is None and ys is None:
            return read(x, y, width, height)
        sx0, sy0 = min(x, band.l_width - 1), min(y, band.l_height - 1)
        sx1 = max(sx0 + 1, min(x + width, band.l_width))
        sy1 = max(sy0 + 1, min(y + height, band.l_height))
        pixels = read(sx0, sy0, sx1 - sx0, sy1 - sy0)
        if xs is not None:
            pixels = pixels[:, xs - sx0]
        if ys is not None:
            pixels = pixels[ys - sy0]
        return np.ascontiguousarray(pixels)

    return read_anchor


class _RawDecodeError(Exception):
    """A JPEG tile of the slide did not decode."""


class SlidePixels:
    """Any window of any Deep Zoom level of one open slide; thread-safe."""

    def __init__(self, slide: Slide, cache: DecodedCache | None = None) -> None:
        self.slide = slide
        self.cache = cache if cache is not None else DecodedCache()
        info = slide.info
        self.grid = DeepZoomGrid(info.width, info.height)
        self._lock = threading.Lock()
        self._ready = False
        self._raw: JpegPyramid | None = None
        self._bands: list[Band] = []
        #: Keys this slide's entries in the shared cache (kept alive by the keys).
        self._token = object()

    def _setup(self) -> None:
        with self._lock:
            if self._ready:
                return
            path = getattr(self.slide, "path", None)
            self._raw = verified_levels(self.slide, Path(path)) if path is not None else None
            self._bands = bands_for(self.slide, self._raw)
            self._ready = True

    @property
    def bands(self) -> list[Band]:
        self._setup()
        return self._bands

    @property
    def jpeg_levels(self) -> set[int]:
        """Slide levels read from their own JPEG tiles."""
        self._setup()
        return set(self._raw.levels) if self._raw is not None else set()

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
            if self._raw is not None:
                self._raw.close()
            self._raw = None
            self._bands = bands_for(self.slide, None)
            old, self._token = self._token, object()
        self.cache.drop(old)

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

        def chunk(c_col: int, c_row: int) -> np.ndarray:
            key = (self._token, "chunk", band.level, m, c_col, c_row)
            return self.cache.get(key, lambda: self._chunk(band, m, c_col, c_row))

        return assemble(chunk, CHUNK, CHUNK, x, y, width, height)

    def _chunk(self, band: Band, m: int, c_col: int, c_row: int) -> np.ndarray:
        width, height = self.grid.level_dimensions(band.anchor(m))
        x0, y0 = c_col * CHUNK, c_row * CHUNK
        x1, y1 = min(width, x0 + CHUNK), min(height, y0 + CHUNK)
        parent_axes = Axis.of(self.grid, band.anchor(m - 1))
        px0, py0 = x0 * STAGE_FACTOR, y0 * STAGE_FACTOR
        px1 = min(parent_axes[0].size, x1 * STAGE_FACTOR)
        py1 = min(parent_axes[1].size, y1 * STAGE_FACTOR)
        parent = self.window(band, m - 1, px0, py0, px1 - px0, py1 - py0)
        return box_reduce(parent, STAGE_FACTOR, px0, py0, *parent_axes, FRACTION_BITS)

    def _anchor_window(self, band: Band, x: int, y: int, width: int, height: int) -> np.ndarray:
        raw = self._raw.levels.get(band.level) if self._raw is not None else None
        if raw is not None:
            level: JpegLevel = raw

            def decode(t_col: int, t_row: int) -> np.ndarray:
                try:
                    return level.decode_tile(t_col, t_row)
                except (ValueError, OSError, RuntimeError) as error:
                    raise _RawDecodeError(str(error)) from error

            def tile(t_col: int, t_row: int) -> np.ndarray:
                key = (self._token, "jpeg", band.level, t_col, t_row)
                return self.cache.get(key, lambda: decode(t_col, t_row))

            tw, th = raw.tile_width, raw.tile_height
        else:
            slide, index, factor = self.slide, band.level, band.factor
            size = OPENSLIDE_TILE

            def tile(t_col: int, t_row: int) -> np.ndarray:
                key = (self._token, "openslide", index, t_col, t_row)
                x0, y0 = t_col * size, t_row * size
                w = min(size, band.l_width - x0)
                h = min(size, band.l_height - y0)
                return self.cache.get(
                    key, lambda: slide.read_rgb((x0 * factor, y0 * factor), index, (w, h))
                )

            tw = th = size

        def read(sx: int, sy: int, sw: int, sh: int) -> np.ndarray:
            return assemble(tile, tw, th, sx, sy, sw, sh)

        return anchor_reader(band, read)(x, y, width, height)

    def remember(self, key: tuple[object, ...], make: Callable[[], np.ndarray]) -> np.ndarray:
        """`make()`, kept in this slide's share of the cache under `key`."""
        return self.cache.get((self._token, *key), make)

    def drop_cached(self) -> None:
        """Free this slide's share of the cache (its file may be read by others still)."""
        self.cache.drop(self._token)

    def close(self) -> None:
        self.drop_cached()
        if self._raw is not None:
            self._raw.close()
