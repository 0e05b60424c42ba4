"""Live events per slide (annotation changes, a presenter's view) for Server-Sent Events.

Every open event stream of a slide has its own bounded queue on the event loop.
Writes happen in sync routes (thread pool), so publishing hands each event to the
loop with `call_soon_threadsafe`. With several web processes the hub's bus
(`app.core.bus`: Redis pub/sub or PostgreSQL LISTEN/NOTIFY) carries each event to
the streams of every other process; this process's own streams get it at once.
What a stream missed while it was down is caught up from the database when it
reconnects, to whichever process, by `Last-Event-ID` (case events and a slide's
annotation and arrival events are rows: `cases.stream`, `slide_events`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from app.core.bus import Bus

#: A stream that falls this far behind (a stalled client) loses events, not the server memory.
QUEUE_SIZE = 1000


@dataclass(eq=False)
class _Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))


def _offer(queue: asyncio.Queue[str], message: str) -> None:
    # A full queue drops the event; the client reloads the collection when it reconnects.
    with contextlib.suppress(asyncio.QueueFull):
        queue.put_nowait(message)


def sse_message(event: str, data: dict[str, Any], event_id: int | None = None) -> str:
    """One SSE frame; JSON never contains a raw newline, so one `data:` line suffices.

    With `event_id` the frame carries an `id:` line, which the browser's EventSource
    sends back as `Last-Event-ID` when it reconnects (case events catch up by it)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


#: The bus topic of live events.
TOPIC = "live"
#: Put on every stream's queue when the bus lost messages: the stream closes, and the
#: client reconnects and catches up from the database. Never sent to a client.
RESYNC = "\x00resync"


def frame_id(message: str) -> int | None:
    """The `id:` of a frame made by `sse_message`, if it has one."""
    if not message.startswith("id: "):
        return None
    head = message[4 : message.index("\n")]
    return int(head) if head.isdigit() else None


def last_event_id(request: Request) -> int | None:
    """The id a reconnecting EventSource sends (or a page passes as `?last_event_id=`)."""
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    try:
        value = int(raw) if raw else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None


class LiveHub:
    def __init__(self, bus: Bus | None = None) -> None:
        self._lock = threading.Lock()
        self._streams: dict[uuid.UUID, set[_Subscriber]] = {}
        self.bus = bus or Bus()
        self.bus.on(TOPIC, self._deliver)
        self.bus.on_gap(self._resync)

    @asynccontextmanager
    async def subscribe(self, slide_id: uuid.UUID) -> AsyncIterator[asyncio.Queue[str]]:
        subscriber = _Subscriber(asyncio.get_running_loop())
        with self._lock:
            self._streams.setdefault(slide_id, set()).add(subscriber)
        try:
            yield subscriber.queue
        finally:
            with self._lock:
                streams = self._streams.get(slide_id, set())
                streams.discard(subscriber)
                if not streams:
                    self._streams.pop(slide_id, None)

    def publish(
        self,
        slide_id: uuid.UUID,
        event: str,
        data: dict[str, Any],
        *,
        event_id: int | None = None,
    ) -> int:
        """Send to every stream of the slide, from any thread; answers how many.

        Answers how many streams of this process; every other process's get it too.
        Any UUID works as the key: case events use the case's and the site's ids."""
        message = sse_message(event, data, event_id)
        self.bus.send(TOPIC, {"k": str(slide_id), "m": message})
        return self.listeners(slide_id)

    def _deliver(self, body: dict[str, Any]) -> None:
        try:
            key, message = uuid.UUID(body["k"]), str(body["m"])
        except (KeyError, ValueError, TypeError):
            return
        with self._lock:
            subscribers = list(self._streams.get(key, ()))
        for subscriber in subscribers:
            # A closed loop raises; that stream's finally block removes it.
            with contextlib.suppress(RuntimeError):
                subscriber.loop.call_soon_threadsafe(_offer, subscriber.queue, message)

    def _resync(self) -> None:
        with self._lock:
            subscribers = [sub for subs in self._streams.values() for sub in subs]
        for subscriber in subscribers:
            with contextlib.suppress(RuntimeError):
                subscriber.loop.call_soon_threadsafe(_offer, subscriber.queue, RESYNC)

    def listeners(self, slide_id: uuid.UUID) -> int:
        with self._lock:
            return len(self._streams.get(slide_id, ()))
