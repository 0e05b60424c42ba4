"""Live slide events over Server-Sent Events, and the follow-me shared view.

`GET /api/slides/{id}/events` streams `annotation` events (someone changed an
annotation) and `view` events (a pathologist's shared viewport and pointer).
A pathologist shares with `POST /api/slides/{id}/view`; followers apply the view
read-only. Only users who may see the slide can open its stream.
"""

from __future__ import annotations

import uuid
from functools import partial

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from app.api.deps import ContextDep, SessionDep, get_hub, request_context
from app.api.stream_access import hub_stream, open_stream
from app.core.access import visible_slide
from app.core.errors import PermissionDeniedError
from app.core.i18n import N_
from app.models.accounts import Role
from app.models.annotations import ViewState
from app.services import annotations as annotation_service
from app.services import slide_events
from app.services.audited import visible_slide_audited
from app.services.context import Context
from app.services.streams import StreamLeases

router = APIRouter(prefix="/api/slides/{slide_id}", tags=["live"])


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
    replay = partial(slide_events.replay, ctx.db, key)
    return hub_stream(request, ctx, get_hub(request), key, leases, "slide.live", replay)


@router.post("/view", status_code=204)
def share_view(slide_id: str, view: ViewState, ctx: ContextDep, session: SessionDep) -> Response:
    """Broadcast the presenter's viewport and pointer to the slide's followers."""
    if ctx.user.role != Role.pathologist:
        raise PermissionDeniedError(N_("pathologists share their view; others follow"))
    annotation_service.share_view(ctx, visible_slide(session, ctx.user, slide_id), view)
    return Response(status_code=204)
