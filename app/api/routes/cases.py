"""Cases: the request, the pathologist's actions, the operating room's acknowledgement,
their live events, and the pages that use them.

API (a contract): `POST/GET /api/cases`, `GET/PATCH /api/cases/{id}`, the actions
`/claim`, `/report`, `/acknowledge`, `/amend`, `/cancel`, plus `/slides` (attach a
slide registered by `POST /api/slides`) and `/viewed` (the review screen showed the
slides); `GET /api/cases/{id}/events`, `GET /api/sites/{code}/events` and
`GET /api/cases/events` (every case the user may see) as Server-Sent Events.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import case as sql_case
from sqlalchemy import func
from sqlmodel import col, select

from app.api.deps import (
    ActorDep,
    CurrentUser,
    DatabaseDep,
    SessionDep,
    client_address,
    get_current_user,
    get_db,
    get_settings,
)
from app.core import audit
from app.core.access import may_see_site, scope_cases, visible_case
from app.core.audit import Actor
from app.core.db import Database
from app.models.accounts import Site, User
from app.models.audit import Outcome
from app.models.cases import (
    AcknowledgeRequest,
    AmendCreate,
    AttachRequest,
    CancelRequest,
    Case,
    CaseCreate,
    CaseList,
    CasePriority,
    CasePublic,
    CaseStatus,
    CaseType,
    CaseUpdate,
    ReportCreate,
)
from app.services.cases import service, stream, views
from app.services.live import LiveHub
from tiler import NotFoundError

router = APIRouter(prefix="/api", tags=["cases"])


def get_hub(request: Request) -> LiveHub:
    hub = request.app.state.live
    assert isinstance(hub, LiveHub)
    return hub


def get_context(request: Request, user: CurrentUser, actor: ActorDep) -> service.Context:
    return service.Context(get_db(request), get_hub(request), user, actor)


ContextDep = Annotated[service.Context, Depends(get_context)]


def _public(db: Database, case_id: uuid.UUID) -> CasePublic:
    with db.read() as session:
        public = views.snapshot(session, case_id)
    assert public is not None
    return public


# --- the request ---------------------------------------------------------------------


@router.post("/cases", status_code=201)
def create_case(data: CaseCreate, ctx: ContextDep) -> CasePublic:
    """A technician or surgeon of the site (admins name the site). Frozen sections are urgent."""
    case = service.create(ctx, data)
    return _public(ctx.db, case.id)


@router.get("/cases")
def list_cases(
    user: CurrentUser,
    actor: ActorDep,
    session: SessionDep,
    db: DatabaseDep,
    status: Annotated[list[CaseStatus] | None, Query()] = None,
    site: Annotated[str | None, Query(max_length=32)] = None,
    type: Annotated[CaseType | None, Query()] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CaseList:
    """Urgent first, then the oldest request first: the order a worklist is worked in."""
    query = scope_cases(user)
    if status:
        query = query.where(col(Case.status).in_(status))
    if type is not None:
        query = query.where(Case.type == type)
    if site is not None:
        query = query.join(Site, col(Site.id) == col(Case.site_id)).where(Site.code == site)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    urgent_first = sql_case((col(Case.priority) == CasePriority.urgent, 0), else_=1)
    rows = session.exec(
        query.order_by(urgent_first, col(Case.requested_at), col(Case.id))
        .offset(offset)
        .limit(limit)
    ).all()
    items = views.snapshots(session, list(rows))
    detail = f"{len(items)} of {total}" + (f" at {site}" if site else "")
    audit.record(db, actor, "case.list", Outcome.success, object_type="case", detail=detail)
    return CaseList(items=items, total=total)


@router.get("/cases/events", response_class=StreamingResponse)
async def all_case_events(request: Request) -> StreamingResponse:
    """Every case the user may see (a pathologist's covered sites) in one stream."""
    db, hub = get_db(request), get_hub(request)
    site_ids = await anyio.to_thread.run_sync(_visible_sites, request)
    return stream.event_stream(
        request,
        db,
        hub,
        site_ids,
        lambda after: stream.catch_up(db, after, case_id=None, site_ids=site_ids),
    )


def _stream_user(request: Request) -> tuple[User, Actor]:
    # Not through SessionDep: its session would stay checked out for the stream's life.
    db, settings = get_db(request), get_settings(request)
    with db.read() as session:
        user = get_current_user(request, session, settings)
    return user, Actor.of(user, client_address(request))


def _visible_sites(request: Request) -> list[uuid.UUID]:
    user, actor = _stream_user(request)
    db = get_db(request)
    with db.read() as session:
        sites = [
            site.id for site in session.exec(select(Site)).all()
            if may_see_site(session, user, site.id)
        ]  # fmt: skip
    audit.record(db, actor, "case.live", Outcome.success, detail=f"{len(sites)} site(s)")
    return sites


@router.get("/cases/{case_id}")
def get_case(case_id: str, ctx: ContextDep) -> CasePublic:
    with ctx.db.read() as session:
        try:
            case = visible_case(session, ctx.user, case_id)
        except NotFoundError:
            audit.record(
                ctx.db, ctx.actor, "case.read", Outcome.not_found, object_type="case",
                object_id=case_id[:64],
            )  # fmt: skip
            raise
        public = views.snapshots(session, [case])[0]
    audit.record(
        ctx.db, ctx.actor, "case.read", Outcome.success, object_type="case",
        object_id=case.id, site_id=case.site_id,
    )  # fmt: skip
    return public


@router.patch("/cases/{case_id}")
def update_case(case_id: str, data: CaseUpdate, ctx: ContextDep) -> CasePublic:
    """Correct the request while no pathologist has claimed it (409 after)."""
    return _public(ctx.db, service.update_request(ctx, case_id, data).id)


@router.post("/cases/{case_id}/slides")
def attach_slide(case_id: str, data: AttachRequest, ctx: ContextDep) -> CasePublic:
    """Attach a slide of the case's own site (409 for another site's slide)."""
    return _public(ctx.db, service.attach(ctx, case_id, data.slide).id)


# --- the pathologist -----------------------------------------------------------------


@router.post("/cases/{case_id}/claim")
def claim_case(case_id: str, ctx: ContextDep) -> CasePublic:
    """Atomic: of two pathologists claiming at once, one gets 200 and the other 409."""
    return _public(ctx.db, service.claim(ctx, case_id).id)


@router.post("/cases/{case_id}/viewed")
def viewed_case(case_id: str, ctx: ContextDep) -> CasePublic:
    """The claiming pathologist has the slides on screen; the first call sets `first_viewed_at`."""
    return _public(ctx.db, service.mark_viewed(ctx, case_id).id)


@router.post("/cases/{case_id}/report")
def report_case(case_id: str, data: ReportCreate, ctx: ContextDep) -> CasePublic:
    """Sign the report: the claiming pathologist re-enters the password (403 if wrong)."""
    return _public(ctx.db, service.sign_report(ctx, case_id, data).id)


@router.post("/cases/{case_id}/amend")
def amend_case(case_id: str, data: AmendCreate, ctx: ContextDep) -> CasePublic:
    """A new signed version with a reason; the surgeon must acknowledge it again."""
    return _public(ctx.db, service.amend(ctx, case_id, data).id)


# --- the operating room --------------------------------------------------------------


@router.post("/cases/{case_id}/acknowledge")
def acknowledge_case(
    case_id: str, ctx: ContextDep, data: AcknowledgeRequest | None = None
) -> CasePublic:
    """The site's surgeon read the result back; `report_version` guards against acknowledging
    an amendment never seen."""
    return _public(ctx.db, service.acknowledge(ctx, case_id, data or AcknowledgeRequest()).id)


@router.post("/cases/{case_id}/cancel")
def cancel_case(case_id: str, ctx: ContextDep, data: CancelRequest | None = None) -> CasePublic:
    return _public(ctx.db, service.cancel(ctx, case_id, data or CancelRequest()).id)


# --- live events ---------------------------------------------------------------------


def _open_case_stream(request: Request, case_id: str) -> uuid.UUID:
    user, actor = _stream_user(request)
    db = get_db(request)
    with db.read() as session:
        try:
            case = visible_case(session, user, case_id)
        except NotFoundError:
            audit.record(
                db, actor, "case.live", Outcome.not_found, object_type="case",
                object_id=case_id[:64],
            )  # fmt: skip
            raise
    audit.record(
        db, actor, "case.live", Outcome.success, object_type="case", object_id=case.id,
        site_id=case.site_id,
    )  # fmt: skip
    return case.id


@router.get("/cases/{case_id}/events", response_class=StreamingResponse)
async def case_events(case_id: str, request: Request) -> StreamingResponse:
    key = await anyio.to_thread.run_sync(_open_case_stream, request, case_id)
    db = get_db(request)
    return stream.event_stream(
        request,
        db,
        get_hub(request),
        [key],
        lambda after: stream.catch_up(db, after, case_id=key, site_ids=None),
    )


def _open_site_stream(request: Request, code: str) -> uuid.UUID:
    user, actor = _stream_user(request)
    db = get_db(request)
    with db.read() as session:
        site = session.exec(select(Site).where(Site.code == code[:32])).first()
        visible = site is not None and may_see_site(session, user, site.id)
    if site is None or not visible:
        audit.record(db, actor, "site.live", Outcome.not_found, detail=code[:32])
        raise NotFoundError("no such site")
    audit.record(db, actor, "site.live", Outcome.success, site_id=site.id, detail=site.code)
    return site.id


@router.get("/sites/{code}/events", response_class=StreamingResponse)
async def site_events(code: str, request: Request) -> StreamingResponse:
    key = await anyio.to_thread.run_sync(_open_site_stream, request, code)
    db = get_db(request)
    return stream.event_stream(
        request,
        db,
        get_hub(request),
        [key],
        lambda after: stream.catch_up(db, after, case_id=None, site_ids=[key]),
    )
