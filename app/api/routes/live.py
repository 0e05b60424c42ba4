"""Live slide events over Server-Sent Events, and the follow-me shared view.

`GET /api/slides/{id}/events` streams `annotation` events (someone changed an
annotation) and `view` events (a pathologist's shared viewport and pointer).
A pathologist shares with `POST /api/slides/{id}/view`; followers apply the view
read-only. Only users who may see the slide can open its stream.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from app.api.deps import ContextDep, SessionDep, get_hub, request_context
from app.api.stream_access import open_stream
from app.core.access import visible_slide
from app.core.errors import PermissionDeniedError
from app.models.accounts import Role
from app.models.annotations import ViewState
from app.services import annotations as annotation_service
from app.services import slide_events
from app.services.audited import visible_slide_audited
from app.services.context import Context
from app.services.live import frame_id, last_event_id
from app.services.streams import StreamLeases, follow, signed_out

router = APIRouter(prefix="/api/slides/{slide_id}", tags=["live"])

#: A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE_SECONDS = 15.0


def _open_slide(request: Request, slide_id: str) -> tuple[Context, uuid.UUID, StreamLeases]:
    ctx = request_context(request)
    with ctx.db.read() as session:
        key = visible_slide_audited(session, ctx, slide_id, "slide.live").id
    return ctx, key, open_stream(request, ctx, "slide.live")


@router.get("/events", response_class=StreamingResponse)
async def events(slide_id: str, request: Request) -> StreamingResponse:
    """Annotation and arrival frames carry an `id:`; a reconnect with `Last-Event-ID`
    first gets the kept events after it, from whichever process it reaches. Ends with a
    `signed-out` event (`{"reason": ...}`) when the credential falls."""
    ctx, key, leases = await anyio.to_thread.run_sync(_open_slide, request, slide_id)
    hub = get_hub(request)
    after = last_event_id(request)

    async def stream() -> AsyncIterator[str]:
        async with leases() as lease, hub.subscribe(key) as queue:
            # `retry` makes EventSource reconnect within a second after a drop.
            yield "retry: 1000\nevent: ready\ndata: {}\n\n"
            # Subscribed before reading the catch-up, so no event falls between the two.
            replayed: set[int | None] = set()
            if after is not None:
                for frame in await anyio.to_thread.run_sync(
                    slide_events.replay, ctx.db, key, after
                ):
                    replayed.add(frame_id(frame))
                    yield frame
            async for message in follow(
                queue, lease, request.is_disconnected, KEEPALIVE_SECONDS, lambda: ": keep-alive\n\n"
            ):
                if frame_id(message) is None or frame_id(message) not in replayed:
                    yield message
            if lease.reason is not None:
                yield await anyio.to_thread.run_sync(signed_out, ctx, "slide.live", lease.reason)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/view", status_code=204)
def share_view(slide_id: str, view: ViewState, ctx: ContextDep, session: SessionDep) -> Response:
    """Broadcast the presenter's viewport and pointer to the slide's followers."""
    if ctx.user.role != Role.pathologist:
        raise PermissionDeniedError("pathologists share their view; others follow")
    annotation_service.share_view(ctx, visible_slide(session, ctx.user, slide_id), view)
    return Response(status_code=204)
