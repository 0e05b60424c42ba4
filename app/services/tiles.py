"""Where a slide's tiles come from: what has arrived while its bytes cross the link, then
its built pyramid when ready, else the finished file on the fly.

Every path makes a tile from the same slide level with the same arithmetic
(`tiler.levels`), so a tile does not change when the next path takes over: an
arriving slide's final tile is the finished slide's tile, byte for byte. An interim
tile (its data has not all arrived) names the byte ranges it waits for: they go to the
front of the agent's queue (`transfers.demand`).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace

from app.core.config import Settings
from app.core.db import Database
from app.core.i18n import N_
from app.core.storage import PYRAMID_OPTIONS, pyramid_path, slide_file
from app.models.slides import SlideRecord, SlideStatus
from app.services.transfers.arriving import Arrivals
from app.services.transfers.demand import Demand
from app.services.transfers.hub import Hub
from tiler import NotFoundError, SlideBridgeError
from tiler import Slide as SlideHandle
from tiler.arriving import ArrivingTiles
from tiler.cache import SlideCache
from tiler.deepzoom import TILE_FORMATS, TileOptions
from tiler.tilepack import TilePack

#: Open tile packs kept; each costs one SQLite connection per thread that read it.
MAX_OPEN_PACKS = 64


@dataclass(frozen=True)
class Tile:
    data: bytes
    #: Which source produced it ("pyramid", "live" or "arriving"), part of the validator.
    source: str
    #: False for an interim tile: its data has not all arrived; never cache it.
    final: bool = True


class TileService:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.cache = SlideCache(max_open=settings.open_slides)
        self.transfers = Hub(Arrivals(settings, db, self.cache.decoded), Demand())
        self._packs: OrderedDict[uuid.UUID, TilePack] = OrderedDict()
        self._lock = threading.Lock()

    def current(self, slide: SlideRecord) -> SlideRecord:
        """`slide`, re-read if it was arriving and its transfer has ended meanwhile (tile
        requests re-use a record for a few seconds)."""
        if slide.status != SlideStatus.arriving:
            return slide
        if self.transfers.arrivals.transfer_of(slide.id) is not None:
            return slide
        with self.db.read() as session:
            fresh = session.get(SlideRecord, slide.id)
        if fresh is None:
            raise NotFoundError(N_("no such slide"))
        return fresh

    def _arriving(
        self, slide: SlideRecord, options: TileOptions
    ) -> tuple[uuid.UUID, ArrivingTiles] | None:
        if slide.status != SlideStatus.arriving:
            return None
        transfer = self.transfers.arrivals.transfer_of(slide.id)
        if transfer is None:
            return None
        return transfer.id, self.transfers.arrivals.tiles(transfer, options)

    def handle(self, slide: SlideRecord) -> SlideHandle:
        """An open handle on the slide, shared with other requests: while its bytes
        arrive, a reader of what has arrived (coarser levels fill what has not)."""
        arriving = self._arriving(slide, PYRAMID_OPTIONS)
        if arriving is not None:
            return arriving[1].slide
        return self.cache.slide(slide_file(self.settings, slide.storage_path))

    def pack(self, slide: SlideRecord) -> TilePack | None:
        """The built pyramid, if its file exists. The file, published by an atomic
        rename, is the signal rather than `slide.status`: tile requests re-use a
        slide row for a few seconds (`TileAccess`) and must not wait for it."""
        if slide.status == SlideStatus.arriving:
            return None
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
        arriving = self._arriving(slide, PYRAMID_OPTIONS)
        if arriving is not None:
            return arriving[1].dzi_xml()
        pack = self.pack(slide)
        if pack is not None:
            return pack.dzi_xml()
        return self.cache.tiles(
            slide_file(self.settings, slide.storage_path), PYRAMID_OPTIONS
        ).dzi_xml()

    def source_name(self, slide: SlideRecord, fmt: str) -> str:
        """ "arriving", "pyramid" or "live": which source `tile()` will use (part of the ETag)."""
        if slide.status == SlideStatus.arriving:
            return "arriving"
        pack = self.pack(slide)
        return "pyramid" if pack is not None and pack.options.format == fmt else "live"

    def tile(self, slide: SlideRecord, z: int, col: int, row: int, fmt: str) -> Tile:
        if fmt not in TILE_FORMATS:
            raise NotFoundError(N_("no tile format {fmt}", fmt=repr(fmt)))
        options = replace(PYRAMID_OPTIONS, format=fmt)
        arriving = self._arriving(slide, options)
        if arriving is not None:
            transfer_id, tiles = arriving
            data, final = tiles.tile(z, col, row)
            if not final:
                # The viewer's own request is the priority signal.
                self.transfers.demand.want(transfer_id, tiles.missing_ranges(z, col, row))
            return Tile(data, "arriving", final)
        pack = self.pack(slide)
        if pack is not None and pack.options.format == fmt:
            return Tile(pack.tile(z, col, row), "pyramid")
        path = slide_file(self.settings, slide.storage_path)
        return Tile(self.cache.tiles(path, options).tile(z, col, row), "live")

    def forget(self, slide: SlideRecord) -> None:
        with self._lock:
            pack = self._packs.pop(slide.id, None)
        if pack is not None:
            pack.close()
        self.transfers.arrivals.forget(slide.id)
        self.cache.evict(slide_file(self.settings, slide.storage_path))
