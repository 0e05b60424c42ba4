"""Cookie requests that change state must come from our own pages (login and logout too).

A browser attaches the session cookie to a form posted from any site; SameSite=Lax
keeps it off cross-site POSTs in current browsers, and this check is the second
lock. A same-origin request says so with `Origin` (our pages send it: their
Referrer-Policy is `same-origin`) or, when Origin is absent or `null`, with
`Sec-Fetch-Site: same-origin`. A request with neither is refused: a script uses a
bearer token, which no other site can make a browser send.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request

from app.core import audit
from app.core.audit import Actor
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import CrossSiteRequestError
from app.core.i18n import N_

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request, settings: Settings) -> bool:
    origin = request.headers.get("origin")
    if origin and origin != "null":
        if urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower():
            return True
        return _origin_of(origin) in {_origin_of(allowed) for allowed in settings.public_origins}
    return request.headers.get("sec-fetch-site") == "same-origin"


def require_same_origin(request: Request, settings: Settings, db: Database) -> None:
    """Refuse (403, audited) a state-changing cookie request from another origin."""
    if request.method in SAFE_METHODS or same_origin(request, settings):
        return
    origin = request.headers.get("origin") or "no Origin"
    site = request.headers.get("sec-fetch-site") or "no Sec-Fetch-Site"
    reason = N_(
        "cross-site request refused: {method} {path}",
        method=request.method,
        path=request.url.path[:100],
    )
    client = client_address(request)
    audit.refusals.refuse(
        db, Actor(None, None, client), "auth.cross_site", f"cross-site:{client}",
        f"{reason} ({origin[:100]}, {site[:20]})",
    )  # fmt: skip
    raise CrossSiteRequestError(reason)
