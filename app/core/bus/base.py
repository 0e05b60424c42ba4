"""A bus: topics, handlers, and the process's own messages delivered at once.

The base class is the in-process bus (one web process). A shared backend overrides
`_connect`, `_transmit` and `_listen`: one sender thread drains an outbox (a
publisher in a request thread never waits for Redis or PostgreSQL, and messages
leave in the order they were sent), one listener thread hands what the others sent
to the handlers. Messages carry the sending process's id, so it skips its own.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: Called with a message's body, on the sender's thread or the listener thread: keep it short.
Handler = Callable[[dict[str, Any]], None]
#: Messages waiting to leave; beyond it the oldest are dropped (the backend is down).
OUTBOX_SIZE = 10_000
#: Seconds between attempts to reach a backend that is down.
RETRY_SECONDS = 1.0


class Bus:
    """In-process: every message goes to this process's handlers only."""

    name = "process"

    def __init__(self) -> None:
        self.origin = uuid.uuid4().hex
        self._handlers: dict[str, list[Handler]] = {}
        self._stop = threading.Event()
        self._outbox: queue.Queue[str | None] = queue.Queue(OUTBOX_SIZE)
        self._threads: list[threading.Thread] = []
        #: Set once the listener listens: messages sent before that may not reach it.
        self.listening = threading.Event()
        self._gap_handlers: list[Callable[[], None]] = []
        self._lost = False

    def on(self, topic: str, handler: Handler) -> None:
        self._handlers.setdefault(topic, []).append(handler)

    def on_gap(self, handler: Callable[[], None]) -> None:
        """Called when the listener is back after losing its link: whatever the other
        processes sent meanwhile never arrived here."""
        self._gap_handlers.append(handler)

    def send(self, topic: str, body: dict[str, Any]) -> None:
        """Deliver here now and to every other process soon; never blocks, never raises."""
        self._deliver(topic, body)
        if not self.shared:
            return
        text = json.dumps({"o": self.origin, "t": topic, "b": body}, separators=(",", ":"))
        try:
            self._outbox.put_nowait(text)
        except queue.Full:
            log.warning("event bus %s: outbox full, a message dropped", self.name)

    @property
    def shared(self) -> bool:
        return type(self)._transmit is not Bus._transmit

    def start(self) -> None:
        if not self.shared:
            self.listening.set()
            return
        for target, name in ((self._send_loop, "bus-send"), (self._listen_loop, "bus-listen")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self._close()

    # --- for the backends ------------------------------------------------------------

    def _deliver(self, topic: str, body: dict[str, Any]) -> None:
        for handler in self._handlers.get(topic, ()):
            try:
                handler(body)
            except Exception:
                log.exception("event bus: handler of %r failed", topic)

    def _subscribed(self) -> None:
        """The backend's listener is subscribed (again)."""
        self.listening.set()
        if self._lost:
            self._lost = False
            log.warning("event bus %s: listening again; streams catch up from the database",
                        self.name)  # fmt: skip
            for handler in self._gap_handlers:
                try:
                    handler()
                except Exception:
                    log.exception("event bus: gap handler failed")

    def _received(self, text: str) -> None:
        """A message from the shared channel (the listener thread)."""
        try:
            envelope = json.loads(text)
            if envelope["o"] == self.origin:
                return
            topic, body = envelope["t"], envelope["b"]
        except (ValueError, KeyError, TypeError):
            log.warning("event bus %s: a malformed message ignored", self.name)
            return
        self._deliver(topic, body)

    def _transmit(self, text: str) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        """Release the backend's connections (the threads have stopped)."""

    def _listen(self, stop: threading.Event) -> None:
        """Listen until `stop` (call `_subscribed` once subscribed); raise when the link breaks."""
        raise NotImplementedError

    def _send_loop(self) -> None:
        while True:
            text = self._outbox.get()
            if text is None:
                return
            while not self._stop.is_set():
                try:
                    self._transmit(text)
                    break
                except Exception as error:
                    log.warning("event bus %s: cannot send (%s); retrying", self.name, error)
                    time.sleep(RETRY_SECONDS)

    def _listen_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen(self._stop)
            except Exception as error:
                self.listening.clear()
                self._lost = True
                log.warning("event bus %s: listener lost (%s); reconnecting", self.name, error)
                self._stop.wait(RETRY_SECONDS)
