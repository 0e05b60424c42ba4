"""The browser's pages: signed-in users get the page, others the sign-in form.

A page holds no patient data itself: it fetches what it shows from the JSON API
with the session cookie, so the API's site rules and audit apply to everything on
it (an unknown or foreign slide or case shows the API's "not found"). Scripts and
styles come from `/static/` and npm packages from `/static/vendor/`
(`app.api.static`): nothing is fetched from elsewhere at run time.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.api.deps import SessionDep, SettingsDep
from app.api.pages import docs, login, setup
from app.api.pages.shell import VIEWER_HEADERS, signed_in_page
from app.api.static import STATIC

router = APIRouter(tags=["pages"], include_in_schema=False)
router.include_router(login.router)
router.include_router(setup.router)
router.include_router(docs.router)

CASES = STATIC / "cases"
TEACHING = STATIC / "teaching"


def _page(path: str, file: Path, headers: dict[str, str] | None = None) -> None:
    """Serve `file` at `path` (with the page's path parameters) to signed-in users."""

    def page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
        if headers is None:
            return signed_in_page(request, session, settings, file)
        return signed_in_page(request, session, settings, file, headers)

    router.add_api_route(path, page, methods=["GET"], response_class=Response)


_page("/", STATIC / "home.html")
# OpenSeadragon positions its elements with inline styles: the viewer's own CSP.
_page("/slides/{slide_id}", STATIC / "viewer.html", VIEWER_HEADERS)
_page("/upload", STATIC / "upload.html")
_page("/cases", CASES / "worklist.html")
_page("/cases/new", CASES / "request.html")
_page("/cases/{case_id}", CASES / "review.html")
_page("/cases/{case_id}/result", CASES / "result.html")
_page("/or/{site}", CASES / "result.html")
_page("/turnaround", CASES / "turnaround.html")
_page("/teaching", TEACHING / "collections.html")
_page("/teaching/collections/{collection_id}", TEACHING / "collection.html")
_page("/teaching/cases/{item_id}", TEACHING / "case.html", VIEWER_HEADERS)
_page("/teaching/conferences/{conference_id}", TEACHING / "conference.html", VIEWER_HEADERS)
