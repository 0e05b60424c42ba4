"""What viewers asked for and has not arrived: the agent's priorities, newest first.

Every interim tile a viewer requests names the byte ranges it waits for; they go to
the front of its transfer's queue here, and each range request of the agent is
answered with the head of that queue. The newest wish comes first (the pathologist
looks where they looked last); a wish fades after `TTL_SECONDS` (they moved on).
In-process: a deployment of several web processes shares it through the scale-out
events (the agent talks to one process at a time and each asks all).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable

#: Seconds a viewer's wish stays in the queue without being asked again.
TTL_SECONDS = 30.0
#: Ranges remembered per transfer: a few screens of tiles.
MAX_WISHES = 512
#: Ranges answered per request: enough to keep the link busy for a few seconds.
ANSWER = 32

Span = tuple[int, int]


class Demand:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._wishes: dict[uuid.UUID, OrderedDict[Span, float]] = {}

    def want(self, transfer_id: uuid.UUID, spans: Iterable[Span]) -> None:
        """Ranges one tile waits for, most needed first: they go to the front, in order."""
        now = self._clock()
        with self._lock:
            wishes = self._wishes.setdefault(transfer_id, OrderedDict())
            for span in reversed(list(spans)):
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
        with self._lock:
            self._wishes.pop(transfer_id, None)
