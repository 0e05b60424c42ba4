"""What viewers asked for and has not arrived: the agent's priorities, newest first.

Every interim tile a viewer requests names the byte ranges it waits for; they go to
the front of its transfer's queue here, and each range request of the agent is
answered with the head of that queue. The newest wish comes first (the pathologist
looks where they looked last); a wish fades after `TTL_SECONDS` (they moved on).
The viewer's tile requests and the agent's range requests may reach different web
processes, so with `share_through(bus)` each wish and each end of a transfer goes to
every process's queue (`app.core.bus`), and any process answers the agent alike.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from app.core.bus import Bus

#: Seconds a viewer's wish stays in the queue without being asked again.
TTL_SECONDS = 30.0
#: Ranges remembered per transfer: a few screens of tiles.
MAX_WISHES = 512
#: Ranges answered per request: enough to keep the link busy for a few seconds.
ANSWER = 32

Span = tuple[int, int]

#: Bus topics: a tile's wish, and a transfer that ended.
WANT, FORGET = "demand.want", "demand.forget"


class Demand:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._wishes: dict[uuid.UUID, OrderedDict[Span, float]] = {}
        self._bus: Bus | None = None

    def share_through(self, bus: Bus) -> None:
        """Wishes and ends go to (and come from) every process on `bus`."""
        self._bus = bus
        bus.on(WANT, self._received_want)
        bus.on(FORGET, lambda body: self._forget(uuid.UUID(str(body["x"]))))

    def want(self, transfer_id: uuid.UUID, spans: Iterable[Span]) -> None:
        """Ranges one tile waits for, most needed first: they go to the front, in order."""
        spans = list(spans)
        if not spans:
            return
        if self._bus is None:
            self._want(transfer_id, spans)
        else:  # here at once, and in every other process
            self._bus.send(WANT, {"x": str(transfer_id), "s": spans})

    def _received_want(self, body: dict[str, Any]) -> None:
        spans = [(int(start), int(end)) for start, end in body["s"]]
        self._want(uuid.UUID(str(body["x"])), spans)

    def _want(self, transfer_id: uuid.UUID, spans: list[Span]) -> None:
        now = self._clock()
        with self._lock:
            wishes = self._wishes.setdefault(transfer_id, OrderedDict())
            for span in reversed(spans):
                wishes[span] = now
                wishes.move_to_end(span, last=False)
            while len(wishes) > MAX_WISHES:
                wishes.popitem(last=True)

    def wanted(
        self, transfer_id: uuid.UUID, arrived: Callable[[int, int], bool], limit: int = ANSWER
    ) -> list[Span]:
        """The head of the queue, without what has arrived or faded meanwhile."""
        horizon = self._clock() - TTL_SECONDS
        with self._lock:
            wishes = self._wishes.get(transfer_id)
            if not wishes:
                return []
            for span, at in list(wishes.items()):
                if at < horizon or arrived(*span):
                    del wishes[span]
            return list(wishes)[:limit]

    def forget(self, transfer_id: uuid.UUID) -> None:
        if self._bus is None:
            self._forget(transfer_id)
        else:
            self._bus.send(FORGET, {"x": str(transfer_id)})

    def _forget(self, transfer_id: uuid.UUID) -> None:
        with self._lock:
            self._wishes.pop(transfer_id, None)
