"""IIIF Image API 3.0 (level 2) for any IIIF viewer: info.json and rendered regions.

info.json is the audited "slide opened" event, as the .dzi is for Deep Zoom;
image requests are not audited one by one.
"""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from app.api.deps import ContextDep, CurrentUser, SessionDep, SettingsDep, TilesDep
from app.api.routes.dzi import TILE_CACHE, etag_matches
from app.core.access import visible_slide
from app.core.config import Settings
from app.services.audited import visible_slide_audited
from app.services.imaging import iiif
from app.services.imaging.render import render

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
        body, media_type=iiif.MEDIA_TYPE, headers={"Cache-Control": "private, no-cache"}
    )


@router.get("/{slide_id}/{region}/{size}/{rotation}/{quality_format}", response_class=Response)
def image(
    slide_id: str,
    region: str,
    size: str,
    rotation: str,
    quality_format: str,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    tiles: TilesDep,
) -> Response:
    slide = visible_slide(session, user, slide_id)
    session.close()
    wanted = iiif.parse(
        region, size, rotation, quality_format, slide.width, slide.height, limits(settings)
    )
    key = f"{slide.sha256}/{region}/{size}/{rotation}/{quality_format}"
    etag = f'"{hashlib.sha256(key.encode()).hexdigest()[:32]}"'
    headers = {"Cache-Control": TILE_CACHE, "ETag": etag, "Link": f'<{iiif.CONTEXT}>;rel="profile"'}
    if etag_matches(request, etag):
        return Response(status_code=304, headers=headers)
    data = render(tiles.handle(slide), wanted, settings.iiif_max_read_pixels)
    return Response(data, media_type=wanted.media_type, headers=headers)
