"""Admitting an event stream: room for it under the per-user cap (a refusal is a 429,
audited), the lease on its checked credential that the stream will hold, and the
stream of a live-hub key (a slide's events, a conference's) until the client leaves or
the credential falls."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from functools import partial

import anyio
from fastapi import Request
from fastapi.responses import StreamingResponse

from app.core import audit
from app.core.errors import TooManyRequestsError
from app.services.accounts import Credential
from app.services.context import Context
from app.services.live import LiveHub, frame_id, last_event_id
from app.services.streams import StreamGuard, StreamLeases, follow, signed_out

#: A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_SECONDS = 15.0


def open_stream(request: Request, ctx: Context, action: str) -> StreamLeases:
    """After `request_context`, in its thread: the stream's lease, once there is room."""
    guard: StreamGuard = request.app.state.streams
    credential: Credential = request.state.credential
    try:
        guard.check_room(credential)
    except TooManyRequestsError as error:
        key = f"streams:{credential.user.id}"
        audit.refusals.refuse(ctx.db, ctx.actor, action, key, error.reason)
        raise
    return partial(guard.lease, credential)


def hub_stream(
    request: Request,
    ctx: Context,
    hub: LiveHub,
    key: uuid.UUID,
    leases: StreamLeases,
    action: str,
    replay: Callable[[int], list[str]] | None = None,
) -> StreamingResponse:
    """The events published under `key`, after a `ready` event; ends with a `signed-out`
    event (`{"reason": ...}`) when the credential falls. With `replay` (the kept frames
    after an event id), a reconnect with `Last-Event-ID` first gets what it missed, from
    whichever process it reaches."""
    after = last_event_id(request) if replay is not None else None

    async def stream() -> AsyncIterator[str]:
        async with leases() as lease, hub.subscribe(key) as queue:
            # `retry` makes EventSource reconnect within a second after a drop.
            yield "retry: 1000\nevent: ready\ndata: {}\n\n"
            # Subscribed before reading the catch-up, so no event falls between the two.
            replayed: set[int | None] = set()
            if replay is not None and after is not None:
                for frame in await anyio.to_thread.run_sync(replay, after):
                    replayed.add(frame_id(frame))
                    yield frame
            async for message in follow(
                queue, lease, request.is_disconnected, KEEPALIVE_SECONDS, lambda: ": keep-alive\n\n"
            ):
                if frame_id(message) is None or frame_id(message) not in replayed:
                    yield message
            if lease.reason is not None:
                yield await anyio.to_thread.run_sync(signed_out, ctx, action, lease.reason)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
