"""The slides of this process that are being served while their bytes arrive.

One entry per arriving slide: the received intervals (loaded from the transfer's
range rows, then kept up to date by this process's writes and by re-reading the
rows other processes added, at most every `REFRESH_SECONDS`), and the engine's
reader over the sparse part file. Entries are dropped when the transfer ends.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import Database
from app.models.transfers import Transfer, TransferRange
from app.services.transfers import store
from tiler.partial import PartialSlide
from tiler.received import ReceivedRanges

#: How stale another process's writes may be in this one's view of a transfer.
REFRESH_SECONDS = 0.5


@dataclass
class Entry:
    transfer_id: uuid.UUID
    slide_id: uuid.UUID
    received: ReceivedRanges
    last_row: int = 0
    refreshed: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    partial: PartialSlide | None = None


class Arrivals:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._entries: dict[uuid.UUID, Entry] = {}

    def _entry(self, transfer: Transfer) -> Entry:
        with self._lock:
            entry = self._entries.get(transfer.slide_id)
            if entry is None or entry.transfer_id != transfer.id:
                entry = Entry(transfer.id, transfer.slide_id, ReceivedRanges(transfer.size))
                self._entries[transfer.slide_id] = entry
            return entry

    def received(
        self, db: Database, transfer: Transfer, *, max_age: float = REFRESH_SECONDS
    ) -> ReceivedRanges:
        """The transfer's received intervals, no older than `max_age` seconds."""
        entry = self._entry(transfer)
        with entry.lock:
            if time.monotonic() - entry.refreshed >= max_age:
                with db.read() as session:
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

    def partial(self, db: Database, transfer: Transfer) -> PartialSlide:
        """The engine's reader over the part file (what has arrived, nothing else)."""
        received = self.received(db, transfer)
        entry = self._entry(transfer)
        with entry.lock:
            if entry.partial is None:
                path = store.part_path(self.settings.data_dir, transfer.id)
                entry.partial = PartialSlide(path, transfer.size, received)
            return entry.partial

    def forget(self, slide_id: uuid.UUID) -> None:
        with self._lock:
            entry = self._entries.pop(slide_id, None)
        if entry is not None and entry.partial is not None:
            entry.partial.close()
