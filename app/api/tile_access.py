"""Who may read a slide's tiles, remembered for a few seconds.

A viewer fetches hundreds of tiles a second. Checking the credential and the site
rule in the database for each one cost more than serving the tile (measured by
`benchmarks.serving`), so the decision for (credential, slide) is kept for
`Settings.tile_access_seconds`. The check itself is the one every route uses
(`get_current_user` + `visible_slide`); only its result is re-used.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from typing import NamedTuple

from fastapi import Request

from app.api.deps import bearer_token, get_current_user
from app.core.access import visible_slide
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import AuthenticationError
from app.core.i18n import N_
from app.models.slides import SlideRecord

#: Entries kept at most; a busy hub has far fewer viewers than this.
MAX_GRANTS = 4096

Credential = tuple[str, str]


class Grant(NamedTuple):
    """A credential's right to read a slide, until `expires` (monotonic seconds)."""

    expires: float
    slide: SlideRecord
    #: Whose credential it is (IIIF renders are limited per user).
    user_id: uuid.UUID


def credential_of(request: Request, settings: Settings) -> Credential:
    token = bearer_token(request)
    if token is not None:
        return ("bearer", token)
    cookie = request.cookies.get(settings.cookie_name)
    if not cookie:
        raise AuthenticationError(N_("not signed in"))
    return ("cookie", cookie)


class TileAccess:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._grants: OrderedDict[tuple[Credential, str], Grant] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, credential: Credential, slide_id: str) -> SlideRecord | None:
        grant = self.cached_grant(credential, slide_id)
        return grant.slide if grant is not None else None

    def cached_grant(self, credential: Credential, slide_id: str) -> Grant | None:
        key = (credential, slide_id)
        with self._lock:
            grant = self._grants.get(key)
            if grant is None:
                return None
            if grant.expires < time.monotonic():
                del self._grants[key]
                return None
            return grant

    def check(self, request: Request, credential: Credential, slide_id: str) -> SlideRecord:
        """The full check (in a worker thread: it reads the database); remembered."""
        return self.check_grant(request, credential, slide_id).slide

    def check_grant(self, request: Request, credential: Credential, slide_id: str) -> Grant:
        with self.db.read() as session:
            user = get_current_user(request, session, self.settings)
            slide = visible_slide(session, user, slide_id)
        grant = Grant(time.monotonic() + self.settings.tile_access_seconds, slide, user.id)
        with self._lock:
            self._grants[(credential, slide_id)] = grant
            while len(self._grants) > MAX_GRANTS:
                self._grants.popitem(last=False)
        return grant
