"""Cases: the request, the pathologist's actions, the operating room's acknowledgement,
and their live events (the actions, audit and pushes are `app.services.cases`).

API (a contract): `POST/GET /api/cases`, `GET/PATCH /api/cases/{id}`, the actions
`/claim`, `/report`, `/acknowledge`, `/amend`, `/cancel`, plus `/slides` (attach a
slide registered by `POST /api/slides`) and `/viewed` (the review screen showed the
slides); `GET /api/cases/{id}/events`, `GET /api/sites/{code}/events` and
`GET /api/cases/events` (every case the user may see) as Server-Sent Events;
`GET /api/sites/{code}`, a site whose cases the user may see (404 as its stream).
"""

from __future__ import annotations

import uuid
from typing import Annotated

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from app.api.deps import CameraDep, ContextDep, request_context
from app.api.paging import Offset
from app.api.stream_access import open_stream
from app.core.db import Database
from app.models.accounts import SiteBase
from app.models.cases import (
    AcknowledgeRequest,
    AmendCreate,
    AttachRequest,
    CancelRequest,
    CaseCreate,
    CaseList,
    CasePublic,
    CaseStatus,
    CaseType,
    CaseUpdate,
    ReportCreate,
)
from app.models.opinions import ColleaguesPublic, CosignRequest, MessageCreate, OpinionRequest
from app.services.cases import opinions, service, stream, views
from app.services.context import Context
from app.services.streams import StreamLeases

router = APIRouter(prefix="/api", tags=["cases"])


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
    ctx: ContextDep,
    status: Annotated[list[CaseStatus] | None, Query()] = None,
    site: Annotated[str | None, Query(max_length=32)] = None,
    type: Annotated[CaseType | None, Query()] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CaseList:
    """Urgent first, then the oldest request first: the order a worklist is worked in."""
    return service.list_visible(ctx, status, site, type, offset, limit)


@router.get("/cases/events", response_class=StreamingResponse)
async def all_case_events(request: Request) -> StreamingResponse:
    """Every case the user may see (a pathologist's covered sites) in one stream."""
    ctx, leases = await anyio.to_thread.run_sync(_admit, request)
    site_ids = await anyio.to_thread.run_sync(stream.open_all_sites, ctx)
    return _events(request, ctx, leases, site_ids, None)


@router.get("/cases/{case_id}")
def get_case(case_id: str, ctx: ContextDep) -> CasePublic:
    return service.read(ctx, case_id)


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
def report_case(case_id: str, data: ReportCreate, ctx: ContextDep, camera: CameraDep) -> CasePublic:
    """Sign the report: the claiming pathologist re-enters the password (403 if wrong).
    Regions marked "include in report" are pictured now, with this version."""
    return _public(ctx.db, service.sign_report(ctx, case_id, data, camera).id)


@router.post("/cases/{case_id}/amend")
def amend_case(case_id: str, data: AmendCreate, ctx: ContextDep, camera: CameraDep) -> CasePublic:
    """A new signed version with a reason; the surgeon must acknowledge it again."""
    return _public(ctx.db, service.amend(ctx, case_id, data, camera).id)


# --- second opinions and the case's thread ------------------------------------------


@router.get("/cases/{case_id}/colleagues")
def case_colleagues(case_id: str, ctx: ContextDep) -> ColleaguesPublic:
    """Whom a second opinion can be asked of: pathologists (and groups of them) covering
    the case's site."""
    return opinions.colleagues(ctx, case_id)


@router.post("/cases/{case_id}/opinions")
def ask_opinion(case_id: str, data: OpinionRequest, ctx: ContextDep) -> CasePublic:
    """The reporting pathologist asks a colleague (`to_user`) or a group (`to_group`)."""
    return _public(ctx.db, opinions.ask(ctx, case_id, data).id)


@router.post("/cases/{case_id}/messages")
def post_message(case_id: str, data: MessageCreate, ctx: ContextDep) -> CasePublic:
    """A message in the case's thread; with `opinion`, a colleague's answer to it."""
    return _public(ctx.db, opinions.post_message(ctx, case_id, data).id)


@router.post("/cases/{case_id}/cosign")
def cosign_report(case_id: str, data: CosignRequest, ctx: ContextDep) -> CasePublic:
    """A colleague co-signs the current version (password re-entered; not their own)."""
    return _public(ctx.db, opinions.cosign(ctx, case_id, data).id)


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


def _admit(request: Request) -> tuple[Context, StreamLeases]:
    """The credential checked and room for one more stream (in a thread)."""
    ctx = request_context(request)
    return ctx, open_stream(request, ctx, "case.live")


def _events(
    request: Request,
    ctx: Context,
    leases: StreamLeases,
    site_ids: list[uuid.UUID] | None,
    case_id: uuid.UUID | None,
) -> StreamingResponse:
    keys = [case_id] if case_id is not None else (site_ids or [])
    return stream.event_stream(
        request,
        ctx,
        leases,
        keys,
        lambda after: stream.catch_up(ctx.db, after, case_id=case_id, site_ids=site_ids),
    )


@router.get("/cases/{case_id}/events", response_class=StreamingResponse)
async def case_events(case_id: str, request: Request) -> StreamingResponse:
    ctx, leases = await anyio.to_thread.run_sync(_admit, request)
    key = await anyio.to_thread.run_sync(stream.open_case, ctx, case_id)
    return _events(request, ctx, leases, None, key)


@router.get("/sites/{code}")
def get_site(code: str, ctx: ContextDep) -> SiteBase:
    """A site whose cases the user may see: its code and name (no patient data). 404 for
    any other, as its stream answers: the operating-room screen checks its link by it."""
    site = stream.visible_site(ctx, code, "site.read")
    return SiteBase(code=site.code, name=site.name)


@router.get("/sites/{code}/events", response_class=StreamingResponse)
async def site_events(code: str, request: Request) -> StreamingResponse:
    ctx, leases = await anyio.to_thread.run_sync(_admit, request)
    key = await anyio.to_thread.run_sync(stream.open_site, ctx, code)
    return _events(request, ctx, leases, [key], None)
