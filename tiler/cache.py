"""Open slide handles kept for re-use, the way a viewer's requests need them.

Opening a slide parses its whole header (for some formats, many files), so the
service keeps recent handles. OpenSlide errors are sticky: a handle that raised
is dropped and the next request opens the file afresh. Decoded source tiles
live in one cache shared by every open slide, bounded by `decoded_bytes`.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from tiler.decoded_cache import DEFAULT_BYTES, DecodedCache
from tiler.deepzoom import DEFAULT_OPTIONS, TileOptions
from tiler.level_pixels import SlidePixels
from tiler.onthefly import SlideTiles
from tiler.registry import open_slide
from tiler.slide import Slide


class SlideCache:
    def __init__(self, max_open: int = 16, decoded_bytes: int = DEFAULT_BYTES) -> None:
        self.max_open = max_open
        self.decoded = DecodedCache(decoded_bytes)
        self._lock = threading.Lock()
        self._slides: OrderedDict[Path, Slide] = OrderedDict()
        self._pixels: dict[Path, SlidePixels] = {}
        self._tiles: dict[tuple[Path, TileOptions], SlideTiles] = {}

    def slide(self, path: str | os.PathLike[str]) -> Slide:
        key = Path(path)
        with self._lock:
            slide = self._slides.get(key)
            if slide is not None and not getattr(slide, "broken", False):
                self._slides.move_to_end(key)
                return slide
            if slide is not None:
                self._forget(key)
        opened = open_slide(key)  # outside the lock: opening can be slow
        with self._lock:
            self._slides[key] = opened
            while len(self._slides) > self.max_open:
                self._forget(next(iter(self._slides)))
        return opened

    def tiles(
        self, path: str | os.PathLike[str], options: TileOptions = DEFAULT_OPTIONS
    ) -> SlideTiles:
        slide = self.slide(path)
        key = (Path(path), options)
        with self._lock:
            tiles = self._tiles.get(key)
            if tiles is None or tiles.slide is not slide:
                # One SlidePixels per open slide: tile formats share its decoded tiles.
                pixels = self._pixels.get(key[0])
                if pixels is None or pixels.slide is not slide:
                    pixels = self._pixels[key[0]] = SlidePixels(slide, self.decoded)
                tiles = self._tiles[key] = SlideTiles(slide, options, pixels)
            return tiles

    def evict(self, path: str | os.PathLike[str]) -> None:
        with self._lock:
            self._forget(Path(path))

    def _forget(self, key: Path) -> None:
        # Handles are not closed here: another thread may still be reading one;
        # OpenSlide closes it when the last reference goes.
        self._slides.pop(key, None)
        pixels = self._pixels.pop(key, None)
        if pixels is not None:
            pixels.drop_cached()
        for tiles_key in [k for k in self._tiles if k[0] == key]:
            del self._tiles[tiles_key]
