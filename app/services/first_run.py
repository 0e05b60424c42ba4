"""The first run of an empty hub: a one-time link to a page that creates the first site
and admin, so a newcomer needs no default password and no command line.

`slidebridge serve` asks for the link when the hub has no user yet and prints it.
The link's token lives only in this process's memory and stops working the moment
a first user exists (made here or with `slidebridge user add`) or the process
ends (the next start prints a new one). Nothing else can create users without a
signed-in admin.
"""

from __future__ import annotations

import secrets
import threading

from sqlmodel import select

from app.core import audit
from app.core.audit import Actor
from app.core.db import Database
from app.core.errors import AuthenticationError, ConflictError
from app.core.i18n import N_
from app.models.accounts import Role, SiteCreate, User, UserCreate
from app.models.audit import Outcome
from app.services import accounts


class FirstRun:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._token: str | None = None

    def hub_is_empty(self) -> bool:
        with self.db.read() as session:
            return session.exec(select(User.id).limit(1)).first() is None

    def open_link(self) -> str | None:
        """A new setup token if the hub has no user yet (the previous one stops working)."""
        with self._lock:
            self._token = secrets.token_urlsafe(32) if self.hub_is_empty() else None
            return self._token

    def accepts(self, token: str) -> bool:
        with self._lock:
            return self._valid(token)

    def _valid(self, token: str) -> bool:
        expected = self._token
        return (
            expected is not None
            and secrets.compare_digest(expected.encode(), token.encode())
            and self.hub_is_empty()
        )

    def complete(self, token: str, site: SiteCreate, admin: UserCreate, client: str | None) -> User:
        """Create the site and its first admin; the link is dead afterwards."""
        if admin.role != Role.admin:
            raise ConflictError(N_("the first user is an admin"))
        with self._lock:
            if not self._valid(token):
                audit.record(self.db, Actor(None, None, client), "setup", Outcome.denied)
                raise AuthenticationError(N_("this setup link is no longer valid: sign in"))
            with self.db.write() as session:
                accounts.create_site(session, site)
                user = accounts.create_user(session, admin)
            self._token = None
        actor = Actor.of(user, client)
        audit.record(self.db, actor, "setup", Outcome.success, detail=f"site {site.code}")
        return user
