"""Progressive transfers at `/api/transfers/`: a slide's byte ranges, in the order it is needed.

`POST /api/transfers` declares the file (name, size, SHA-256, site, case): 201 with
the transfer and the slide it becomes (viewable at once), or 200 with the one already
receiving this file (an agent that restarted resumes) or already here. `PUT
/api/transfers/{id}/ranges/{start}` sends one range with `Content-Digest`; each answer
carries `wanted`, the ranges viewers are waiting for. `GET /api/transfers/{id}` gives
every received interval. The last range completes the transfer (the whole file's
SHA-256 is checked) and the slide becomes an ordinary one.
"""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, Response
from starlette.requests import ClientDisconnect

from app.api.deps import LongRequestContext, SettingsDep, get_dispatcher
from app.api.errors import BodyRoute
from app.core.config import Settings
from app.core.errors import UnprocessableError
from app.core.i18n import N_
from app.models.transfers import Transfer, TransferCreate, TransferPublic, TransferStatus
from app.services.context import Context
from app.services.transfers import service
from app.services.transfers.hub import Hub
from app.services.transfers.protocol import parse_digest, parse_length, parse_start

router = APIRouter(prefix="/api/transfers", tags=["transfers"], route_class=BodyRoute)


def get_transfer_hub(request: Request) -> Hub:
    hub = request.app.state.transfers
    assert isinstance(hub, Hub)
    return hub


@router.post("", status_code=201, responses={200: {"description": "resumed, or already here"}})
def create_transfer(
    data: TransferCreate,
    request: Request,
    response: Response,
    ctx: LongRequestContext,
    settings: SettingsDep,
) -> TransferPublic:
    transfer, created = service.create(ctx, settings, data)
    if not created:
        response.status_code = 200
    return service.public(ctx.db, get_transfer_hub(request), transfer, with_ranges=True)


@router.get("/{transfer_id}")
async def transfer_state(
    transfer_id: str, request: Request, ctx: LongRequestContext, settings: SettingsDep
) -> TransferPublic:
    """The state, with every received interval. A transfer whose bytes are all in but whose
    completion was cut off (the hub restarted) is completed here."""
    hub = get_transfer_hub(request)
    public = await anyio.to_thread.run_sync(service.read, ctx, hub, transfer_id)
    if public.status == TransferStatus.receiving and public.received_bytes == public.size:
        transfer = await anyio.to_thread.run_sync(service.find, ctx.db, ctx.user, transfer_id)
        await _complete(request, ctx, settings, hub, transfer)
        public = await anyio.to_thread.run_sync(service.read, ctx, hub, transfer_id)
    return public


async def _complete(
    request: Request, ctx: Context, settings: Settings, hub: Hub, transfer: Transfer
) -> Transfer:
    done = await anyio.to_thread.run_sync(service.complete, ctx, settings, hub, transfer)
    if done.job_id is not None:
        await anyio.to_thread.run_sync(get_dispatcher(request).notify, done.job_id, done.priority)
    return done.transfer


async def _body(request: Request, length: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > length:
                raise UnprocessableError(N_("the body is longer than its Content-Length"))
            chunks.append(chunk)
    except ClientDisconnect:
        pass  # the link dropped mid-range: answered below, to nobody
    if size != length:
        # A cut connection: nothing is written, the agent sends the range again.
        raise UnprocessableError(N_("received {size} of {length} bytes", size=size, length=length))
    return b"".join(chunks)


@router.put(
    "/{transfer_id}/ranges/{start}",
    status_code=201,
    responses={200: {"description": "these bytes had arrived before"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def put_range(
    transfer_id: str,
    start: str,
    request: Request,
    response: Response,
    ctx: LongRequestContext,
    settings: SettingsDep,
) -> TransferPublic:
    """One range of the file, [start, start + Content-Length): refused with nothing written
    when it overlaps received bytes (409), falls outside the file (416), or does not
    match its Content-Digest (422). The answer's `wanted` says what to send next."""
    hub = get_transfer_hub(request)
    offset = parse_start(start)
    length = parse_length(request.headers.get("content-length"))
    digest = parse_digest(request.headers.get("content-digest"))
    transfer = await anyio.to_thread.run_sync(service.find, ctx.db, ctx.user, transfer_id)
    await anyio.to_thread.run_sync(service.check_range, ctx.db, hub, transfer, offset, length)
    body = await _body(request, length)
    received = await anyio.to_thread.run_sync(
        service.receive, ctx, settings, hub, transfer, offset, body, digest
    )
    transfer = received.transfer
    if transfer.status == TransferStatus.receiving and transfer.received_bytes == transfer.size:
        transfer = await _complete(request, ctx, settings, hub, transfer)
    if not received.new:
        response.status_code = 200
    return await anyio.to_thread.run_sync(
        lambda: service.public(ctx.db, hub, transfer, with_ranges=False)
    )
