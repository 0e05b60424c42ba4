"""Slides: register (upload), list, describe, delete, thumbnail and associated images."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import anyio
import numpy as np
from fastapi import APIRouter, Query, Request, Response

from app.api.deps import (
    ContextDep,
    CurrentAdmin,
    SessionDep,
    SettingsDep,
    TilesDep,
    get_dispatcher,
)
from app.api.paging import Offset
from app.core.access import IDENTIFYING_IMAGES, may_view_identifying_image, visible_slide
from app.core.config import Settings
from app.core.errors import PermissionDeniedError
from app.core.i18n import N_
from app.models.accounts import Site
from app.models.audit import Outcome
from app.models.slides import CalibrationUpdate, SlideList, SlidePublic, SlideStatus
from app.models.transfers import ArrivalMap
from app.services import calibration
from app.services import slides as service
from app.services.audited import visible_slide_audited
from app.services.context import Context
from app.services.imaging import vips
from app.services.imaging.capacity import RenderCapacity
from app.services.imaging.render import thumbnail as render_thumbnail
from app.services.imaging.render import thumbnail_plan
from app.services.slide_sets import fill_from_parts, receive_set, release_parts
from app.services.staging import StagedFile, receive_upload
from app.services.tiles import TileService
from app.services.transfers import service as transfer_service
from tiler.errors import NotArrivedError

router = APIRouter(prefix="/api/slides", tags=["slides"])

IMAGE_HEADERS = {"Cache-Control": "private, max-age=300"}
#: Labels and macros show patient names: never kept by a browser (a shared workstation).
IDENTIFYING_HEADERS = {"Cache-Control": "private, no-store"}
_FORM_FIELDS = {
    "site": {"type": "string", "description": "site code (admins)"},
    "urgent": {"type": "boolean", "description": "intraoperative case"},
}


def _multipart_doc(required: list[str], fields: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of a streamed multipart route (FastAPI cannot infer it)."""
    schema = {"type": "object", "required": required, "properties": fields | _FORM_FIELDS}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


_UPLOAD_DOC = _multipart_doc(["file"], {"file": {"type": "string", "format": "binary"}})


@router.post(
    "",
    status_code=201,
    openapi_extra=_UPLOAD_DOC,
    responses={200: {"description": "the same file was already registered for this site"}},
)
async def upload_slide(
    request: Request, response: Response, ctx: ContextDep, settings: SettingsDep
) -> SlidePublic:
    """Register a slide file. 201 with the new slide; 200 with the existing one if this
    site already has the same content (same SHA-256); 422 if it is not a readable slide."""
    form = await receive_upload(request, settings.staging_dir, settings.max_upload_bytes)
    assert form.file is not None
    site = await _site_of(ctx, form.file, form.fields)
    return await _register(request, response, ctx, settings, form.file, form.fields, site)


async def _site_of(ctx: Context, staged: StagedFile, fields: dict[str, str]) -> Site:
    """The site the form names for a new slide; `staged` is discarded when it is refused."""
    try:
        return await anyio.to_thread.run_sync(
            service.site_for_new, ctx, fields.get("site"), "the form field 'site'"
        )
    except BaseException:
        staged.discard()
        raise


async def _register(
    request: Request,
    response: Response,
    ctx: Context,
    settings: Settings,
    staged: StagedFile,
    fields: dict[str, str],
    site: Site,
) -> SlidePublic:
    """A staged file or set becomes a slide of `site` (`staged` consumed either way)."""
    urgent = fields.get("urgent", "").lower() in {"1", "true", "yes", "on"}
    result = await anyio.to_thread.run_sync(
        lambda: service.add(ctx, settings, staged, site, urgent=urgent)
    )
    if result.job_id is not None:
        await anyio.to_thread.run_sync(
            get_dispatcher(request).notify, result.job_id, result.priority
        )
    else:
        response.status_code = 200
    return service.to_public(result.slide, site.code)


_SET_DOC = _multipart_doc(
    ["manifest", "file"],
    {
        "manifest": {
            "type": "string",
            "description": 'JSON, first: {"name": ..., "files": [{"path", "size", "sha256"}, '
            "...]}, every file of the slide",
        },
        "file": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": "each file, its filename the manifest's path",
        },
    },
)


@router.post(
    "/sets",
    status_code=201,
    openapi_extra=_SET_DOC,
    responses={200: {"description": "the same set was already registered for this site"}},
)
async def upload_slide_set(
    request: Request, response: Response, ctx: ContextDep, settings: SettingsDep
) -> SlidePublic:
    """Register a slide of several files (a DICOM WSI series, MIRAX `.mrxs` with its
    folder): a manifest with every file's relative name, size and SHA-256, then the files.
    A declared file may be left out of the body when it was sent before with tus
    (`POST /api/uploads/`, metadata `purpose` `set_part` and its `sha256`) to the same
    site: a cut link then costs only what was in flight, not the whole set.
    422 with the reason if a file differs from its declaration, one is missing or
    undeclared, or the files are not one complete slide; nothing is kept then. The
    slide's `sha256` is its manifest's (`sha256sum`-style lines in path order)."""
    form = await receive_set(request, settings.staging_dir, settings.max_upload_bytes)
    site = await _site_of(ctx, form.staged, form.fields)
    parts: list[uuid.UUID] = []
    if form.missing:  # files sent before, resumably, with tus (purpose "set_part")
        try:
            parts = await anyio.to_thread.run_sync(
                fill_from_parts, ctx.db, settings.data_dir, form, site.id
            )
        except BaseException:
            form.staged.discard()
            raise
    slide = await _register(request, response, ctx, settings, form.staged, form.fields, site)
    await anyio.to_thread.run_sync(release_parts, ctx.db, settings.data_dir, parts, slide.id)
    return slide


@router.get("")
def list_slides(
    ctx: ContextDep,
    site: Annotated[str | None, Query(max_length=32)] = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SlideList:
    return service.list_visible(ctx, site, offset, limit)


@router.get("/{slide_id}")
def get_slide(slide_id: str, ctx: ContextDep) -> SlidePublic:
    return service.read(ctx, slide_id)


@router.get("/{slide_id}/arrival")
def arrival(slide_id: str, request: Request, ctx: ContextDep, session: SessionDep) -> ArrivalMap:
    """While the slide's bytes arrive: how much, and which full-resolution tiles are in
    (the viewer greys the rest on its navigator). Not audited per call: opening the slide
    is (as for tiles)."""
    slide = visible_slide(session, ctx.user, slide_id)
    tiles: TileService = request.app.state.tiles
    return transfer_service.arrival_map(ctx, tiles.transfers, tiles.current(slide))


@router.put("/{slide_id}/calibration")
def set_calibration(slide_id: str, update: CalibrationUpdate, ctx: ContextDep) -> SlidePublic:
    """Set the µm per pixel of a picture whose file states none (a stage micrometer's
    reading): technicians and pathologists of the slide's site; 409 if the file is
    calibrated. Audited, refusals included. The scale bar and measurements use it."""
    return calibration.calibrate(ctx, slide_id, update)


@router.delete("/{slide_id}", status_code=204)
def delete_slide(
    slide_id: str,
    _admin: CurrentAdmin,
    ctx: ContextDep,
    session: SessionDep,
    settings: SettingsDep,
    tiles: TilesDep,
) -> Response:
    slide = visible_slide_audited(session, ctx, slide_id, "slide.delete")
    session.rollback()  # end the read snapshot before writing
    tiles.forget(slide)
    service.delete(ctx.db, settings, slide)
    return Response(status_code=204)


@router.get("/{slide_id}/thumbnail")
async def thumbnail(
    request: Request,
    slide_id: str,
    ctx: ContextDep,
    session: SessionDep,
    settings: SettingsDep,
    tiles: TilesDep,
    size: Annotated[int, Query(ge=16, le=1024)] = 256,
) -> Response:
    """The whole slide scaled to fit `size` pixels (tissue only, no label). A render like
    an IIIF image: it waits for a render place, holding no database connection. A slide
    still arriving: 409 until its structure is in, then made from what has arrived (not
    kept)."""
    slide = await anyio.to_thread.run_sync(
        visible_slide_audited, session, ctx, slide_id, "slide.thumbnail"
    )
    session.close()
    if not slide.width:
        raise NotArrivedError(N_("the slide's structure has not arrived yet"))
    arriving = slide.status == SlideStatus.arriving
    handle = await anyio.to_thread.run_sync(tiles.handle, slide)
    source, out = thumbnail_plan(handle, size, settings.iiif_max_read_pixels)
    renders: RenderCapacity = request.app.state.renders
    data = await renders.run(ctx.user.id, lambda: render_thumbnail(handle, source, out))
    headers = {"Cache-Control": "no-store"} if arriving else IMAGE_HEADERS
    return Response(data, media_type="image/jpeg", headers=headers)


@router.get("/{slide_id}/associated/{name}")
def associated_image(
    slide_id: str, name: str, ctx: ContextDep, session: SessionDep, tiles: TilesDep
) -> Response:
    """Label, macro or thumbnail image as stored by the scanner (PNG). Label and macro
    can show patient names: admins may not see them, and every request is audited."""
    allowed = may_view_identifying_image(ctx.user, name)
    slide = visible_slide_audited(
        session,
        ctx,
        slide_id,
        f"slide.associated.{name[:32]}",
        outcome=Outcome.success if allowed else Outcome.denied,
    )
    if not allowed:
        # Only label and macro are refused (`IDENTIFYING_IMAGES`): each said whole.
        raise PermissionDeniedError(
            N_("the label image is for the clinicians of the case")
            if name == "label"
            else N_("the macro image is for the clinicians of the case")
        )
    pixels = np.asarray(tiles.handle(slide).associated_image(name).convert("RGB"))
    data = vips.encode(pixels, mirror=False, rotation=0, quality="default", fmt="png")
    headers = IDENTIFYING_HEADERS if name in IDENTIFYING_IMAGES else IMAGE_HEADERS
    return Response(data, media_type="image/png", headers=headers)
