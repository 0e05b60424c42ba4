"""The pathologist's viewer page at `/slides/{id}`, and the static files it loads.

The page itself holds no patient data: it fetches the slide, its tiles and its
annotations with the session cookie, so an unknown or foreign slide shows the
same "not found" as the API answers. Its scripts are under `/static/viewer/`, and
OpenSeadragon under `/static/vendor/` from the npm package the project installs
(`app.api.static`); nothing is fetched from elsewhere at run time.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.api.deps import SessionDep, SettingsDep
from app.api.pages import STATIC, VIEWER_HEADERS, signed_in_page

router = APIRouter(tags=["viewer"], include_in_schema=False)


@router.get("/slides/{slide_id}", response_class=Response)
def viewer_page(
    slide_id: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    return signed_in_page(request, session, settings, STATIC / "viewer.html", VIEWER_HEADERS)
