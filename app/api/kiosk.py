"""What an operating-room kiosk session may do: that site's operating-room screen.

A kiosk session stays signed in (no idle timeout) on a screen nobody sits at, so it
is good only for what the screen does: show the site's frozen-section results, live,
and let the surgeon acknowledge one. Anywhere else it is refused (401): whoever
walks up to the screen cannot browse the worklist or the slides with it.
"""

from __future__ import annotations

import re

from fastapi import Request

from app.core.errors import AuthenticationError
from app.core.i18n import N_

_UUID = r"[0-9a-fA-F-]{32,36}"
_CODE = r"(?P<code>[^/]{1,32})"
#: (method, path) pairs of the operating-room screen (static/cases/result.js).
_ROUTES = [
    ("GET", re.compile(rf"/or/{_CODE}")),
    ("GET", re.compile(rf"/cases/{_UUID}/result")),
    ("GET", re.compile(r"/api/users/me")),
    # The screen speaks its surgeon's language, which they may change there.
    ("GET", re.compile(r"/api/i18n")),
    ("PUT", re.compile(r"/api/users/me/language")),
    ("GET", re.compile(r"/api/cases")),
    ("GET", re.compile(rf"/api/cases/{_UUID}(/events)?")),
    # The result screen's Print button opens the signed report.
    ("GET", re.compile(rf"/api/cases/{_UUID}/report\.pdf")),
    ("GET", re.compile(rf"/api/sites/{_CODE}/events")),
    ("POST", re.compile(rf"/api/cases/{_UUID}/acknowledge")),
]


def require_kiosk_route(request: Request, site_code: str) -> None:
    path, method = request.url.path, "GET" if request.method == "HEAD" else request.method
    for route_method, pattern in _ROUTES:
        match = pattern.fullmatch(path)
        if match is None or route_method != method:
            continue
        code = match.groupdict().get("code")
        if code is None or code == site_code:
            return
    raise AuthenticationError(
        N_("this screen is signed in for operating room {site_code} only", site_code=site_code)
    )
