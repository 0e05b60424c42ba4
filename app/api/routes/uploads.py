"""tus 1.0 resumable uploads at `/api/uploads/` (the browser's page is `/upload`).

Every tus answer (errors included) carries `Tus-Resumable` and the CORS headers a
browser needs to read `Upload-Offset` and `Location`; one route class adds them,
so no handler can forget. Authentication is the usual bearer token or session
cookie, checked with a session that is closed before the body is read: a PATCH
can stream for an hour and must not hold a database snapshot that long.
"""

from __future__ import annotations

import logging
from email.utils import format_datetime

import anyio
from fastapi import APIRouter, Request, Response

from app.api.deps import LongRequestContext, SettingsDep, get_dispatcher, get_settings
from app.api.errors import BodyRoute
from app.core.config import Settings
from app.core.db import Database
from app.core.i18n import N_
from app.models.types import utcnow
from app.models.uploads import Upload, UploadPublic, UploadStatus
from app.services.context import Context
from app.services.streams import StreamGuard
from app.services.uploads import service
from app.services.uploads.protocol import (
    ALLOWED_HEADERS,
    ALLOWED_METHODS,
    CHECKSUM_ALGORITHMS,
    EXPOSED_HEADERS,
    EXTENSIONS,
    TUS_VERSION,
    OffsetMismatchError,
    TusError,
    UploadGoneError,
    check_version,
    encode_metadata,
    parse_checksum,
    parse_count,
    parse_metadata,
    require_body_type,
)
from app.services.uploads.reaper import reap_now_and_then
from app.services.uploads.receive import receive_body
from app.services.uploads.store import PartWriter, part_path, wait_for_writer

log = logging.getLogger(__name__)
#: Checked with a session closed at once: a PATCH can stream for an hour and must not
#: hold a database snapshot that long.
UploadContext = LongRequestContext
#: How long HEAD waits for a dying request on the same upload to commit what it received.
HEAD_WAIT_SECONDS = 3.0


def _cors(request: Request, response: Response, settings: Settings) -> None:
    response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    origin = request.headers.get("origin")
    if origin and origin in settings.upload_cors_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "86400"
        response.headers["Vary"] = "Origin"


class TusRoute(BodyRoute):
    """Adds the tus and CORS headers to every answer, errors included."""

    def finish(self, request: Request, response: Response) -> Response:
        response.headers["Tus-Resumable"] = TUS_VERSION
        _cors(request, response, get_settings(request))
        return response


router = APIRouter(prefix="/api/uploads", tags=["uploads"], route_class=TusRoute)


def _expires(upload: Upload) -> str:
    return format_datetime(upload.expires_at, usegmt=True)


def _metadata(upload: Upload, code: str) -> dict[str, str]:
    values = {"filename": upload.filename, "site": code, "purpose": str(upload.purpose)}
    if upload.case_id:
        values["case"] = str(upload.case_id)
    if upload.sha256:
        values["sha256"] = upload.sha256
    return values


def _state_headers(upload: Upload) -> dict[str, str]:
    headers = {"Upload-Offset": str(upload.offset), "Upload-Expires": _expires(upload)}
    if upload.slide_id is not None:
        headers["Slide-Id"] = str(upload.slide_id)
    return headers


@router.options("", status_code=204, include_in_schema=False)
@router.options("/", status_code=204)
def discover(request: Request, settings: SettingsDep) -> Response:
    """tus discovery (no credentials needed, as for a CORS preflight)."""
    return _discovery(settings)


@router.options("/{upload_id}", status_code=204)
def discover_upload(upload_id: str, settings: SettingsDep) -> Response:
    """tus discovery, asked of an upload's URL (as a CORS preflight does)."""
    return _discovery(settings)


def _discovery(settings: Settings) -> Response:
    return Response(
        status_code=204,
        headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": EXTENSIONS,
            "Tus-Max-Size": str(settings.max_upload_bytes),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
        },
    )


async def _lock(db: Database, settings: Settings, upload: Upload) -> tuple[PartWriter, Upload]:
    """Take the upload's one-writer lock, then re-read the row it guards."""
    if upload.status != UploadStatus.receiving:
        raise UploadGoneError(upload.error or N_("the upload is finished"))
    writer = await anyio.to_thread.run_sync(PartWriter, part_path(settings.data_dir, upload.id))
    try:
        current = await anyio.to_thread.run_sync(service.fresh, db, upload.id)
    except BaseException:
        writer.close()
        raise
    return writer, current


def _check_alive(upload: Upload) -> None:
    if upload.status == UploadStatus.rejected:
        raise UploadGoneError(upload.error or N_("the upload was refused"))
    if upload.status == UploadStatus.receiving and upload.expires_at <= utcnow():
        raise UploadGoneError(N_("the upload expired"))


async def _complete(request: Request, ctx: Context, settings: Settings, upload: Upload) -> None:
    result = await anyio.to_thread.run_sync(service.complete, ctx, settings, upload)
    if result is not None and result.job_id is not None:
        await anyio.to_thread.run_sync(
            get_dispatcher(request).notify, result.job_id, result.priority
        )


async def _append(
    request: Request, ctx: Context, settings: Settings, writer: PartWriter, upload: Upload
) -> bool:
    """Receive this request's body at the upload's offset; complete the upload at its end."""
    checksum = parse_checksum(request.headers.get("upload-checksum"))
    writer.begin(upload.offset)

    async def commit(offset: int) -> None:
        await anyio.to_thread.run_sync(service.commit_offset, ctx.db, settings, upload, offset)

    # The body's credential is re-checked as an event stream's is (`app.services.streams`).
    guard: StreamGuard = request.app.state.streams
    async with guard.lease(request.state.credential, counted=False) as lease:
        whole = await receive_body(
            request, writer, upload.length, checksum, commit, settings.upload_commit_bytes,
            ended=lambda: lease.reason,
        )  # fmt: skip
    if upload.offset == upload.length:
        await _complete(request, ctx, settings, upload)
    return whole


@router.post("", status_code=201, include_in_schema=False)
@router.post("/", status_code=201)
async def create_upload(request: Request, ctx: UploadContext, settings: SettingsDep) -> Response:
    """tus creation (and creation-with-upload): metadata `filename`, `site`, `case`, `sha256`,
    and `purpose`: `slide` (the default) or `attachment` (a photograph, camera image or
    PDF of the case `case`, listed at `/api/cases/{id}/attachments`)."""
    check_version(request.headers.get("tus-resumable"))
    if "upload-defer-length" in request.headers:
        raise TusError(N_("Upload-Defer-Length is not supported: send Upload-Length"))
    length = parse_count(request.headers.get("upload-length"), "Upload-Length")
    metadata = parse_metadata(request.headers.get("upload-metadata"))
    upload = await anyio.to_thread.run_sync(service.create, ctx, settings, metadata, length)
    await anyio.to_thread.run_sync(reap_now_and_then, ctx.db, settings)
    has_body = request.headers.get("content-length", "0") != "0" or (
        "chunked" in request.headers.get("transfer-encoding", "")
    )
    if has_body:
        require_body_type(request.headers.get("content-type"))
        writer, upload = await _lock(ctx.db, settings, upload)
        try:
            await _append(request, ctx, settings, writer, upload)
        finally:
            writer.close()
    headers = {"Location": f"/api/uploads/{upload.id}", **_state_headers(upload)}
    return Response(status_code=201, headers=headers)


@router.head("/{upload_id}")
async def upload_offset(
    upload_id: str, request: Request, ctx: UploadContext, settings: SettingsDep
) -> Response:
    """Where to resume. An upload whose bytes all arrived but whose completion was cut
    off (the server died while registering it) is completed here."""
    check_version(request.headers.get("tus-resumable"))
    upload, code = await anyio.to_thread.run_sync(service.find, ctx.db, ctx.user, upload_id)
    if upload.status == UploadStatus.receiving:
        path = part_path(settings.data_dir, upload.id)
        # Still busy after the wait: a live writer; its committed offset is the answer.
        await anyio.to_thread.run_sync(wait_for_writer, path, HEAD_WAIT_SECONDS)
        upload = await anyio.to_thread.run_sync(service.fresh, ctx.db, upload.id)
    _check_alive(upload)
    if upload.status == UploadStatus.receiving and upload.offset == upload.length:
        writer, upload = await _lock(ctx.db, settings, upload)
        try:
            if upload.status == UploadStatus.receiving:
                await _complete(request, ctx, settings, upload)
        finally:
            writer.close()
    headers = {
        "Upload-Length": str(upload.length),
        "Upload-Metadata": encode_metadata(_metadata(upload, code)),
        "Cache-Control": "no-store",
        **_state_headers(upload),
    }
    return Response(status_code=200, headers=headers)


@router.patch("/{upload_id}", status_code=204)
async def append(
    upload_id: str, request: Request, ctx: UploadContext, settings: SettingsDep
) -> Response:
    """Append the body at `Upload-Offset`, which must equal the durable offset (else 409)."""
    check_version(request.headers.get("tus-resumable"))
    require_body_type(request.headers.get("content-type"))
    offset = parse_count(request.headers.get("upload-offset"), "Upload-Offset")
    upload, _ = await anyio.to_thread.run_sync(service.find, ctx.db, ctx.user, upload_id)
    _check_alive(upload)
    if upload.status == UploadStatus.completed:
        if offset != upload.length:
            raise OffsetMismatchError(
                N_("the upload is complete at {length}", length=upload.length)
            )
        return Response(status_code=204, headers=_state_headers(upload))
    writer, upload = await _lock(ctx.db, settings, upload)
    try:
        _check_alive(upload)
        if offset != upload.offset:
            raise OffsetMismatchError(
                N_(
                    "Upload-Offset is {offset}, the upload is at {at}",
                    offset=offset,
                    at=upload.offset,
                )
            )
        await _append(request, ctx, settings, writer, upload)
    finally:
        writer.close()
    return Response(status_code=204, headers=_state_headers(upload))


@router.delete("/{upload_id}", status_code=204)
async def terminate(
    upload_id: str, request: Request, ctx: UploadContext, settings: SettingsDep
) -> Response:
    """tus termination: the bytes and the row go (a finished slide stays)."""
    check_version(request.headers.get("tus-resumable"))
    upload, _ = await anyio.to_thread.run_sync(service.find, ctx.db, ctx.user, upload_id)
    writer = None
    if upload.status == UploadStatus.receiving:
        writer, upload = await _lock(ctx.db, settings, upload)
    try:
        await anyio.to_thread.run_sync(service.terminate, ctx, settings, upload)
    finally:
        if writer is not None:
            writer.close()
    return Response(status_code=204)


@router.get("/{upload_id}")
def upload_status(upload_id: str, ctx: UploadContext) -> UploadPublic:
    """The upload as JSON (not part of tus): status, offset, the slide it became, or why not."""
    return service.read(ctx, upload_id)
