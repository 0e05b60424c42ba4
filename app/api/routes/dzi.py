"""Deep Zoom for OpenSeadragon: `/dzi/{id}.dzi` and `/dzi/{id}_files/{z}/{col}_{row}.{format}`.

Opening the .dzi is the audited event; tiles are not audited one by one (a view
is thousands of them). Every tile says whether it is `final` (the finished slide's
tile, byte for byte) or `interim` (made from what has arrived of a slide still crossing
the link: `no-store`), in the header `SlideBridge-Tile`.
"""

from __future__ import annotations

import re
import time
from typing import Literal

import anyio
from fastapi import APIRouter, Request, Response

from app.api.deps import ContextDep, SessionDep, TilesDep
from app.api.tile_access import TileAccess, credential_of
from app.core.i18n import N_
from app.core.metrics import observe_tile
from app.models.slides import SlideStatus
from app.services.audited import visible_slide_audited
from app.services.tiles import TileService
from tiler import NotFoundError

router = APIRouter(tags=["deepzoom"])

#: Levels, columns and rows are small non-negative integers; anything else is a 404.
_INDEX = re.compile(r"\d{1,7}")
TILE_CACHE = "private, max-age=3600"
#: Whether a tile is the finished slide's (`final`) or made from what has arrived so far.
FINALITY = "SlideBridge-Tile"
MEDIA = {"jpeg": "image/jpeg", "webp": "image/webp"}


def _index(text: str, what: Literal["level", "column", "row"]) -> int:
    if _INDEX.fullmatch(text):
        return int(text)
    shown = repr(text[:20])  # each sentence whole, so each is translated whole
    if what == "level":
        raise NotFoundError(N_("no level {text}", text=shown))
    if what == "column":
        raise NotFoundError(N_("no column {text}", text=shown))
    raise NotFoundError(N_("no row {text}", text=shown))


def etag_matches(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match", "")
    return header.strip() == "*" or etag in {tag.strip() for tag in header.split(",")}


@router.get("/dzi/{slide_id}.dzi", response_class=Response)
def dzi(slide_id: str, ctx: ContextDep, session: SessionDep, tiles: TilesDep) -> Response:
    slide = tiles.current(visible_slide_audited(session, ctx, slide_id, "slide.open", detail="dzi"))
    return Response(
        tiles.dzi_xml(slide),
        media_type="application/xml",
        headers={"Cache-Control": "private, no-cache"},
    )


@router.get("/dzi/{slide_id}_files/{level}/{col}_{row}.{fmt}", response_class=Response)
async def dzi_tile(
    request: Request, slide_id: str, level: str, col: str, row: str, fmt: str
) -> Response:
    """No dependencies on purpose: each would cost a thread-pool hop per tile. The
    credential and site check is the usual one, re-used briefly (`TileAccess`); a
    tile from the built pyramid is one indexed SQLite read, done right here, and
    only a tile made from the slide goes to a worker thread."""
    started = time.perf_counter()
    if fmt not in MEDIA:
        raise NotFoundError(N_("no tile format {fmt}: jpeg or webp", fmt=repr(fmt[:10])))
    z, t_col, t_row = _index(level, "level"), _index(col, "column"), _index(row, "row")
    access: TileAccess = request.app.state.tile_access
    tiles: TileService = request.app.state.tiles
    credential = credential_of(request, access.settings)
    slide = access.cached(credential, slide_id)
    if slide is None:
        slide = await anyio.to_thread.run_sync(access.check, request, credential, slide_id)
    if slide.status == SlideStatus.arriving:
        slide = await anyio.to_thread.run_sync(tiles.current, slide)
    source = tiles.source_name(slide, fmt)
    etag = f'"{slide.sha256[:24]}-{source}-{fmt}-{z}-{t_col}-{t_row}"'
    headers = {"Cache-Control": TILE_CACHE, "ETag": etag, FINALITY: "final"}
    if source != "arriving" and etag_matches(request, etag):
        observe_tile(source, time.perf_counter() - started, fresh=False)
        return Response(status_code=304, headers=headers)
    if source == "pyramid":
        tile = tiles.tile(slide, z, t_col, t_row, fmt)
    else:
        tile = await anyio.to_thread.run_sync(tiles.tile, slide, z, t_col, t_row, fmt)
    fresh = not tile.final or not etag_matches(request, etag)
    observe_tile(source, time.perf_counter() - started, final=tile.final, fresh=fresh)
    if not tile.final:
        # Rendered from what has arrived so far: never kept, never an error.
        headers = {"Cache-Control": "no-store", FINALITY: "interim"}
    elif not fresh:
        return Response(status_code=304, headers=headers)
    return Response(tile.data, media_type=MEDIA[fmt], headers=headers)
