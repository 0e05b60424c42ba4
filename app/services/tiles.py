"""Where a slide's tiles come from: its built pyramid when ready, else the source on the fly.

The pyramid pack holds tiles in one format (PYRAMID_OPTIONS); a request for the
other format, or any request before the pyramid exists, is generated from the
slide through the shared handle cache. Both give the same Deep Zoom grid.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from app.core.config import Settings
from app.core.storage import PYRAMID_OPTIONS, pyramid_path, slide_file
from app.models.slides import SlideRecord
from tiler import NotFoundError, SlideBridgeError
from tiler import Slide as SlideHandle
from tiler.cache import SlideCache
from tiler.deepzoom import TILE_FORMATS
from tiler.tilepack import TilePack

#: Open tile packs kept; each costs one SQLite connection per thread that read it.
MAX_OPEN_PACKS = 64


@dataclass(frozen=True)
class Tile:
    data: bytes
    #: Which source produced it ("pyramid" or "live"), part of the validator.
    source: str


class TileService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = SlideCache(max_open=settings.open_slides)
        self._packs: OrderedDict[uuid.UUID, TilePack] = OrderedDict()
        self._lock = threading.Lock()

    def source_path(self, slide: SlideRecord) -> Path:
        return slide_file(self.settings, slide.storage_path)

    def handle(self, slide: SlideRecord) -> SlideHandle:
        """An open handle on the slide's file, shared with other requests."""
        return self.cache.slide(self.source_path(slide))

    def pack(self, slide: SlideRecord) -> TilePack | None:
        """The built pyramid, if its file exists. The file, published by an atomic
        rename, is the signal rather than `slide.status`: tile requests re-use a
        slide row for a few seconds (`TileAccess`) and must not wait for it."""
        with self._lock:
            pack = self._packs.get(slide.id)
            if pack is not None:
                self._packs.move_to_end(slide.id)
                return pack
        path = pyramid_path(self.settings, slide.id)
        if not path.is_file():
            return None
        try:
            pack = TilePack(path)
        except SlideBridgeError:
            return None  # an unreadable pack: serve live tiles rather than fail
        with self._lock:
            self._packs[slide.id] = pack
            while len(self._packs) > MAX_OPEN_PACKS:
                self._packs.popitem(last=False)
        return pack

    def dzi_xml(self, slide: SlideRecord) -> str:
        pack = self.pack(slide)
        if pack is not None:
            return pack.dzi_xml()
        return self.cache.tiles(self.source_path(slide), PYRAMID_OPTIONS).dzi_xml()

    def source_name(self, slide: SlideRecord, fmt: str) -> str:
        """ "pyramid" or "live": which source `tile()` will use (part of the ETag)."""
        pack = self.pack(slide)
        return "pyramid" if pack is not None and pack.options.format == fmt else "live"

    def tile(self, slide: SlideRecord, z: int, col: int, row: int, fmt: str) -> Tile:
        if fmt not in TILE_FORMATS:
            raise NotFoundError(f"no tile format {fmt!r}")
        pack = self.pack(slide)
        if pack is not None and pack.options.format == fmt:
            return Tile(pack.tile(z, col, row), "pyramid")
        options = replace(PYRAMID_OPTIONS, format=fmt)
        return Tile(self.cache.tiles(self.source_path(slide), options).tile(z, col, row), "live")

    def forget(self, slide: SlideRecord) -> None:
        with self._lock:
            pack = self._packs.pop(slide.id, None)
        if pack is not None:
            pack.close()
        self.cache.evict(self.source_path(slide))
