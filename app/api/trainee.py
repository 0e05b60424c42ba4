"""What a trainee may reach: teaching collections and their copies, nothing of patients.

Trainees (county and township doctors) belong to no site, so the access rule
(`app.core.access`) already shows them no patient's slide or case, only the
de-identified copies of teaching collections. This list is the second wall, in the
kiosk's manner: any route not named here is refused (403) before it runs, so a new
patient route is closed to trainees until someone opens it on purpose.
"""

from __future__ import annotations

import re

from fastapi import Request

from app.core.errors import PermissionDeniedError
from app.core.i18n import N_

_UUID = r"[0-9a-fA-F-]{32,36}"
_SLIDE = rf"/api/slides/{_UUID}"
#: (methods, path) of what the teaching pages need; copies are ordinary slide ids, so the
#: slide, tile and IIIF routes are open (their scope admits copies only). A slide's
#: annotations and event stream are not: the expert's annotations would give the answer
#: away, so trainees get them from the teaching routes once they answered.
_ROUTES: list[tuple[frozenset[str], re.Pattern[str]]] = [
    (frozenset({"GET"}), re.compile(r"/api/users/me")),
    (frozenset({"PUT"}), re.compile(r"/api/users/me/language")),
    (frozenset({"GET"}), re.compile(r"/api/i18n")),
    (frozenset({"POST"}), re.compile(r"/api/auth/revoke")),
    (frozenset({"DELETE"}), re.compile(r"/api/auth/token")),
    (frozenset({"GET"}), re.compile(r"/api/slides")),
    (frozenset({"GET"}), re.compile(rf"{_SLIDE}(/thumbnail)?")),
    (frozenset({"GET"}), re.compile(rf"/dzi/{_UUID}(\.dzi|_files/.+)")),
    (frozenset({"GET"}), re.compile(rf"/iiif/3/{_UUID}(/.*)?")),
    (frozenset({"GET", "POST", "PUT", "DELETE"}), re.compile(r"/api/teaching(/.*)?")),
    (frozenset({"GET"}), re.compile(rf"/(slides/{_UUID})?")),
    (frozenset({"GET"}), re.compile(r"/teaching(/.*)?")),
    (frozenset({"GET"}), re.compile(r"/docs|/redoc|/openapi\.json")),
]


def require_trainee_route(request: Request) -> None:
    path, method = request.url.path, "GET" if request.method == "HEAD" else request.method
    for methods, pattern in _ROUTES:
        if method in methods and pattern.fullmatch(path):
            return
    raise PermissionDeniedError(N_("trainees see teaching collections only"))
