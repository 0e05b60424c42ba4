"""IIIF Image API 3.0 (level 2) for any IIIF viewer: info.json and rendered regions.

info.json is the audited "slide opened" event, as the .dzi is for Deep Zoom;
image requests are not audited one by one. An image request is a viewer's tile:
its credential check is the Deep Zoom tiles' one, re-used for a few seconds
(`TileAccess`), and its render waits for a place (`RenderCapacity`: per user and
overall, on low-priority threads of its own) holding no thread and no database
connection, so renders never take the capacity tiles and API requests run on.
Cross-origin viewers: `app.api.cors`.
"""

from __future__ import annotations

import hashlib

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from app.api.deps import ContextDep, SessionDep, SettingsDep
from app.api.routes.dzi import TILE_CACHE, etag_matches
from app.api.tile_access import TileAccess, credential_of
from app.core.config import Settings
from app.services.audited import visible_slide_audited
from app.services.imaging import iiif
from app.services.imaging.capacity import RenderCapacity
from app.services.imaging.render import plan, render
from app.services.tiles import TileService

router = APIRouter(prefix="/iiif/3", tags=["iiif"])


def limits(settings: Settings) -> iiif.Limits:
    return iiif.Limits(settings.iiif_max_width, settings.iiif_max_height, settings.iiif_max_area)


@router.get("/{slide_id}", include_in_schema=False)
def base_uri(slide_id: str, request: Request) -> RedirectResponse:
    return RedirectResponse(str(request.url_for("iiif_info", slide_id=slide_id)), status_code=303)


@router.get("/{slide_id}/info.json", name="iiif_info")
def info(
    slide_id: str,
    request: Request,
    ctx: ContextDep,
    session: SessionDep,
    settings: SettingsDep,
) -> JSONResponse:
    slide = visible_slide_audited(session, ctx, slide_id, "slide.open", detail="iiif")
    service_id = str(request.url_for("iiif_info", slide_id=str(slide.id))).removesuffix(
        "/info.json"
    )
    body = iiif.info_json(service_id, slide.width, slide.height, limits(settings))
    return JSONResponse(
        body,
        media_type=iiif.info_media_type(request.headers.get("accept")),
        headers={"Cache-Control": "private, no-cache", "Vary": "Accept"},
    )


@router.get("/{slide_id}/{region}/{size}/{rotation}/{quality_format}", response_class=Response)
async def image(
    request: Request, slide_id: str, region: str, size: str, rotation: str, quality_format: str
) -> Response:
    access: TileAccess = request.app.state.tile_access
    tiles: TileService = request.app.state.tiles
    renders: RenderCapacity = request.app.state.renders
    settings = access.settings
    credential = credential_of(request, settings)
    grant = access.cached_grant(credential, slide_id)
    if grant is None:
        grant = await anyio.to_thread.run_sync(access.check_grant, request, credential, slide_id)
    slide = grant.slide
    wanted = iiif.parse(
        region, size, rotation, quality_format, slide.width, slide.height, limits(settings)
    )
    key = f"{slide.sha256}/{region}/{size}/{rotation}/{quality_format}"
    etag = f'"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'
    headers = {"Cache-Control": TILE_CACHE, "ETag": etag, "Link": f'<{iiif.PROFILE}>;rel="profile"'}
    if etag_matches(request, etag):
        return Response(status_code=304, headers=headers)
    handle = await anyio.to_thread.run_sync(tiles.handle, slide)
    source = plan(
        handle,
        (wanted.l0_x, wanted.l0_y, wanted.l0_width, wanted.l0_height),
        (wanted.width, wanted.height),
        settings.iiif_max_read_pixels,
    )
    data = await renders.run(grant.user_id, lambda: render(handle, wanted, source))
    return Response(data, media_type=wanted.media_type, headers=headers)
