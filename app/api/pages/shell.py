"""What every page answer shares: the sign-in check and the Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from sqlmodel import Session

from app.api.deps import get_current_user
from app.core.config import Settings
from app.core.errors import AuthenticationError

_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'{inline}; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
#: Scripts and styles from this origin only.
PAGE_HEADERS = {"Content-Security-Policy": _POLICY.format(inline=""), "Cache-Control": "no-store"}
#: OpenSeadragon positions its elements with inline styles: allowed for styles only.
VIEWER_HEADERS = {
    "Content-Security-Policy": _POLICY.format(inline=" 'unsafe-inline'"),
    "Cache-Control": "no-store",
}


def signed_in_page(
    request: Request,
    session: Session,
    settings: Settings,
    page: Path,
    headers: dict[str, str] = PAGE_HEADERS,
) -> Response:
    """`page` for a signed-in user; a redirect to the login form (coming back here) otherwise."""
    try:
        get_current_user(request, session, settings)
    except AuthenticationError:
        here = request.url.path
        return RedirectResponse(f"/login?next={quote(here)}", status_code=303)
    return FileResponse(page, media_type="text/html", headers=headers)
