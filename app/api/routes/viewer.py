"""The pathologist's viewer page at `/slides/{id}`, and the static files it loads.

The page itself holds no patient data: it fetches the slide, its tiles and its
annotations with the session cookie, so an unknown or foreign slide shows the
same "not found" as the API answers. Its scripts are under `/static/viewer/`, and
OpenSeadragon under `/static/vendor/` from the npm package the project installs
(`app.api.static`); nothing is fetched from elsewhere at run time.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from app.api.deps import SessionDep, SettingsDep, get_current_user
from app.core.errors import AuthenticationError

STATIC = Path(__file__).resolve().parents[3] / "static"
VIEWER_PAGE = STATIC / "viewer.html"

router = APIRouter(tags=["viewer"], include_in_schema=False)

_HEADERS = {
    # OpenSeadragon positions its elements with inline styles, hence 'unsafe-inline' for
    # styles only; scripts come from this origin and nowhere else.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'",
    "Cache-Control": "no-store",
}


@router.get("/slides/{slide_id}", response_class=Response)
def viewer_page(
    slide_id: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    try:
        get_current_user(request, session, settings)
    except AuthenticationError:
        return RedirectResponse(f"/login?next={quote(f'/slides/{slide_id}')}", status_code=303)
    return FileResponse(VIEWER_PAGE, media_type="text/html", headers=_HEADERS)

