"""A bounded, thread-safe cache of decoded pixels, shared by concurrent tile requests.

Neighbouring Deep Zoom tiles overlap the same source tiles (a 254-pixel tile with
its overlap spans up to four 240-pixel scanner tiles), and a crowd of viewers asks
for neighbours at once: each source tile is decoded once while it is in use. The
bound is in bytes; a key being computed by one thread is waited for, not computed
again by the next.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future

import numpy as np

#: What the service's slide cache keeps by default (decoded tiles and reduced chunks).
DEFAULT_BYTES = 256 << 20


class DecodedCache:
    def __init__(self, max_bytes: int = DEFAULT_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._pending: dict[Hashable, Future[np.ndarray]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached array for `key`, made by `make()` on a miss. The array is shared
        and read-only."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
            pending = self._pending.get(key)
            owner = pending is None
            if pending is None:
                pending = self._pending[key] = Future()
        if not owner:
            return pending.result()
        try:
            value = make()
        except BaseException as error:
            with self._lock:
                del self._pending[key]
            pending.set_exception(error)
            raise
        value.flags.writeable = False
        with self._lock:
            del self._pending[key]
            self._keep(key, value)
        pending.set_result(value)
        return value

    def _keep(self, key: Hashable, value: np.ndarray) -> None:
        if value.nbytes <= self.max_bytes:
            self._items[key] = value
            self.bytes += value.nbytes
            while self.bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self.bytes -= dropped.nbytes

    def drop(self, owner: object) -> None:
        """Forget every entry whose key starts with `owner` (a closed slide)."""
        with self._lock:
            for key in [k for k in self._items if isinstance(k, tuple) and k[0] is owner]:
                self.bytes -= self._items.pop(key).nbytes


class OneThreadCache(DecodedCache):
    """The same cache for one thread (a pyramid worker process): no lock to take and no
    computation of another thread to wait for, which is most of a hit's cost."""

    def get(self, key: Hashable, make: Callable[[], np.ndarray]) -> np.ndarray:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            return found
        value = make()
        value.flags.writeable = False
        self._keep(key, value)
        return value
