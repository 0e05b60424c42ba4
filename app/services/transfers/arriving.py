"""The slides of this process that are being served while their bytes arrive.

One entry per arriving slide: the received intervals (loaded from the transfer's
range rows, then kept up to date by this process's writes and by re-reading the
rows other processes added, at most every `REFRESH_SECONDS`), the engine's reader
over the sparse part file and its Deep Zoom tiles. Entries are dropped when the
transfer ends; a slide whose transfer ended is looked up again.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import Database
from app.models.transfers import Transfer, TransferRange, TransferStatus
from app.services.transfers import store
from tiler.arriving import ArrivingTiles
from tiler.decoded_cache import DecodedCache
from tiler.deepzoom import TileOptions
from tiler.partial import PartialSlide
from tiler.received import ReceivedRanges

#: How stale another process's writes may be in this one's view of a transfer.
REFRESH_SECONDS = 0.5


@dataclass
class Entry:
    transfer: Transfer
    received: ReceivedRanges
    last_row: int = 0
    refreshed: float = 0.0
    #: When the transfer's status was last read (another process may have completed it).
    checked: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    partial: PartialSlide | None = None
    tiles: dict[TileOptions, ArrivingTiles] = field(default_factory=dict)


class Arrivals:
    def __init__(self, settings: Settings, db: Database, decoded: DecodedCache) -> None:
        self.settings = settings
        self.db = db
        self.decoded = decoded
        self._lock = threading.Lock()
        self._entries: dict[uuid.UUID, Entry] = {}

    def _entry(self, transfer: Transfer) -> Entry:
        with self._lock:
            entry = self._entries.get(transfer.slide_id)
            if entry is None or entry.transfer.id != transfer.id:
                entry = Entry(transfer, ReceivedRanges(transfer.size))
                self._entries[transfer.slide_id] = entry
            return entry

    def transfer_of(self, slide_id: uuid.UUID) -> Transfer | None:
        """The transfer still bringing this slide's bytes, or None (it ended)."""
        with self._lock:
            entry = self._entries.get(slide_id)
        if entry is not None and time.monotonic() - entry.checked < REFRESH_SECONDS:
            return entry.transfer
        with self.db.read() as session:
            transfer = session.exec(
                select(Transfer).where(
                    Transfer.slide_id == slide_id, Transfer.status == TransferStatus.receiving
                )
            ).first()
        if transfer is None:
            self.forget(slide_id)
            return None
        entry = self._entry(transfer)
        entry.checked = time.monotonic()
        return entry.transfer

    def received(self, transfer: Transfer, *, max_age: float = REFRESH_SECONDS) -> ReceivedRanges:
        """The transfer's received intervals, no older than `max_age` seconds."""
        entry = self._entry(transfer)
        with entry.lock:
            if time.monotonic() - entry.refreshed >= max_age:
                with self.db.read() as session:
                    rows = session.exec(
                        select(TransferRange.id, TransferRange.start, TransferRange.end)
                        .where(TransferRange.transfer_id == transfer.id)
                        .where(col(TransferRange.id) > entry.last_row)
                        .order_by(col(TransferRange.id))
                    ).all()
                for row_id, start, end in rows:
                    entry.received.add(start, end)
                    entry.last_row = max(entry.last_row, int(row_id or 0))
                entry.refreshed = time.monotonic()
            return entry.received

    def arrived(self, transfer: Transfer, start: int, end: int) -> None:
        """This process wrote and recorded [start, end)."""
        self._entry(transfer).received.add(start, end)

    def partial(self, transfer: Transfer) -> PartialSlide:
        """The engine's reader over the part file (what has arrived, nothing else)."""
        received = self.received(transfer)
        entry = self._entry(transfer)
        with entry.lock:
            if entry.partial is None:
                path = store.part_path(self.settings.data_dir, transfer.id)
                entry.partial = PartialSlide(path, transfer.size, received)
            return entry.partial

    def tiles(self, transfer: Transfer, options: TileOptions) -> ArrivingTiles:
        """Its Deep Zoom tiles in one format: `NotArrivedError` until the structure is in,
        `NotDecodableError` for levels only OpenSlide decodes (the slide waits whole)."""
        partial = self.partial(transfer)
        entry = self._entry(transfer)
        with entry.lock:
            tiles = entry.tiles.get(options)
            if tiles is None:
                tiles = entry.tiles[options] = ArrivingTiles(partial, options, self.decoded)
            return tiles

    def forget(self, slide_id: uuid.UUID) -> None:
        with self._lock:
            entry = self._entries.pop(slide_id, None)
        if entry is not None and entry.partial is not None:
            entry.partial.close()
