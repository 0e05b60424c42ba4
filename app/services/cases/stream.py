"""Case events as Server-Sent Events, with catch-up after a dropped connection.

Each frame is `event: case` with the case's full snapshot and, as its `id:`, the
number of the newest `case_event` row it reflects. A browser's EventSource sends
that number back as `Last-Event-ID` when it reconnects (or a page passes
`?last_event_id=`), and the stream first sends the current snapshot of every case
changed since, then the live frames. A `ping` every few seconds carries the server
time, so a screen can show when it last heard from the server and notice a dead link.

The live side is the app's `LiveHub` (the same fan-out as the annotation events),
keyed by case id for one case and by site id for a site's cases.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack

import anyio
from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func
from sqlmodel import col, select

from app.core import audit
from app.core.access import may_see_site
from app.core.db import Database
from app.core.i18n import N_
from app.models.accounts import Site
from app.models.audit import Outcome
from app.models.cases import Case, CaseEvent
from app.models.types import utcnow
from app.services.audited import visible_case_audited
from app.services.cases import views
from app.services.context import Context
from app.services.live import frame_id, last_event_id, sse_message
from app.services.streams import StreamLeases, follow, signed_out
from tiler.errors import NotFoundError

#: How often a `ping` goes out: a screen that misses three of them calls the link dead.
PING_SECONDS = 5.0
#: Most cases replayed on reconnect; a screen further behind reloads its list instead.
CATCH_UP_LIMIT = 500


def newest_event_id(db: Database) -> int:
    with db.read() as session:
        newest = session.exec(select(func.max(CaseEvent.id))).one()
    return int(newest or 0)


def catch_up(
    db: Database, after: int, *, case_id: uuid.UUID | None, site_ids: Sequence[uuid.UUID] | None
) -> list[str]:
    """Frames with the current snapshot of each case changed after event `after`."""
    query = select(CaseEvent.case_id, func.max(CaseEvent.id)).where(col(CaseEvent.id) > after)
    if case_id is not None:
        query = query.where(CaseEvent.case_id == case_id)
    if site_ids is not None:
        query = query.where(col(CaseEvent.site_id).in_(site_ids))
    query = query.group_by(col(CaseEvent.case_id)).order_by(func.max(CaseEvent.id))
    with db.read() as session:
        rows = session.exec(query.limit(CATCH_UP_LIMIT)).all()
        newest = {case: int(top) for case, top in rows if top is not None}
        cases = session.exec(select(Case).where(col(Case.id).in_(newest))).all()
        publics = views.snapshots(session, list(cases))
    publics.sort(key=lambda public: newest[public.id])
    return [
        sse_message("case", {"case": public.model_dump(mode="json")}, newest[public.id])
        for public in publics
    ]


async def _forward(source: asyncio.Queue[str], sink: asyncio.Queue[str]) -> None:
    while True:
        message = await source.get()
        with contextlib.suppress(asyncio.QueueFull):
            sink.put_nowait(message)


def _ping() -> str:
    return f"event: ping\ndata: {json.dumps({'server_time': utcnow().isoformat()})}\n\n"


def event_stream(
    request: Request,
    ctx: Context,
    leases: StreamLeases,
    keys: Sequence[uuid.UUID],
    replay: Callable[[int], list[str]],
) -> StreamingResponse:
    """The response for one case (one key) or several sites (one key each); it ends
    with a `signed-out` event when the credential falls (`app.services.streams`)."""
    after = last_event_id(request)
    db, hub = ctx.db, ctx.hub

    async def frames() -> AsyncIterator[str]:
        async with AsyncExitStack() as stack:
            lease = await stack.enter_async_context(leases())
            # Subscribe before reading the catch-up, so no change falls between the two.
            queues = [await stack.enter_async_context(hub.subscribe(key)) for key in keys]
            merged: asyncio.Queue[str] = asyncio.Queue(1000)
            tasks = [asyncio.create_task(_forward(queue, merged)) for queue in queues]
            stack.callback(lambda: [task.cancel() for task in tasks])
            newest = await anyio.to_thread.run_sync(newest_event_id, db)
            hello = {"last_event_id": newest, "server_time": utcnow().isoformat()}
            yield "retry: 1000\n" + sse_message("ready", hello)
            sent: set[int] = set()
            if after is not None:
                for frame in await anyio.to_thread.run_sync(replay, after):
                    sent.add(frame_id(frame) or 0)
                    yield frame
            async for message in follow(
                merged, lease, request.is_disconnected, PING_SECONDS, _ping
            ):
                if frame_id(message) not in sent:  # already replayed in the catch-up
                    yield message
            if lease.reason is not None:
                yield await anyio.to_thread.run_sync(signed_out, ctx, "case.live", lease.reason)

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# --- opening a stream: who may listen to what, audited ----------------------------------


def open_case(ctx: Context, case_id: str) -> uuid.UUID:
    with ctx.db.read() as session:
        return visible_case_audited(session, ctx, case_id, "case.live").id


def visible_site(ctx: Context, code: str, action: str) -> Site:
    """The site of `code` if the user may see its cases; 404 otherwise (audited as
    `action`), the same answer for a site that does not exist."""
    with ctx.db.read() as session:
        site = session.exec(select(Site).where(Site.code == code[:32])).first()
        visible = site is not None and may_see_site(session, ctx.user, site.id)
    if site is None or not visible:
        audit.record(ctx.db, ctx.actor, action, Outcome.not_found, detail=code[:32])
        raise NotFoundError(N_("no such site"))
    return site


def open_site(ctx: Context, code: str) -> uuid.UUID:
    site = visible_site(ctx, code, "site.live")
    audit.record(ctx.db, ctx.actor, "site.live", Outcome.success, site_id=site.id, detail=code)
    return site.id


def open_all_sites(ctx: Context) -> list[uuid.UUID]:
    """Every site the user may see (a pathologist's covered sites)."""
    with ctx.db.read() as session:
        sites = [
            site.id for site in session.exec(select(Site)).all()
            if may_see_site(session, ctx.user, site.id)
        ]  # fmt: skip
    audit.record(ctx.db, ctx.actor, "case.live", Outcome.success, detail=f"{len(sites)} site(s)")
    return sites
