"""The API's documentation for signed-in users: Swagger UI at /docs, ReDoc at /redoc,
the schema at /openapi.json.

FastAPI's own pages load unpinned scripts from a CDN with inline scripts; these are
our pages with the npm packages installed by `make` (`app.api.static`), under a CSP
that allows scripts from this origin only. Off when `Settings.docs_enabled` is
false (the default in production): 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from app.api.deps import CurrentUser, SessionDep, SettingsDep
from app.api.pages.shell import signed_in_page
from app.api.static import STATIC
from app.core.i18n import N_
from tiler.errors import NotFoundError

#: Both UIs set inline styles (style-src 'unsafe-inline'); scripts only from here.
DOCS_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; script-src 'self'; worker-src 'self' blob:; "
    "connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "Cache-Control": "no-store",
}


def _require_docs(settings: SettingsDep) -> None:
    if not settings.docs_enabled:
        raise NotFoundError(N_("the API documentation is off on this hub"))


# Checked before the sign-in: a hub without docs has no such pages, for anyone.
router = APIRouter(tags=["docs"], include_in_schema=False, dependencies=[Depends(_require_docs)])


def _docs_page(path: str, file: str) -> None:
    def page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
        return signed_in_page(request, session, settings, STATIC / "docs" / file, DOCS_HEADERS)

    router.add_api_route(path, page, methods=["GET"], response_class=Response)


_docs_page("/docs", "swagger.html")
_docs_page("/redoc", "redoc.html")


@router.get("/openapi.json")
def openapi(request: Request, user: CurrentUser) -> dict[str, Any]:
    schema: dict[str, Any] = request.app.openapi()
    return schema
