"""Signing in from a route (the login form and POST /api/auth/token): the checks in a
worker thread, and a refused flood slowed down at no cost to the hub.

A refusal (429: a locked account or address, a password check already running for
the account, a full check pool) is answered after `REFUSAL_DELAY_SECONDS` of sleep
on the event loop. A client that floods without pause, as an attacker does (Retry-After
is advice), then gets about one answer per second per connection instead of hundreds,
and a sleeping request holds neither a thread nor the CPU that tiles need.
"""

from __future__ import annotations

import anyio
from fastapi import Request

from app.api.origin import client_address, require_same_origin
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import TooManyRequestsError
from app.models.accounts import TokenKind, User
from app.services import accounts

REFUSAL_DELAY_SECONDS = 1.0


async def sign_in(
    request: Request, username: str, password: str, kind: TokenKind
) -> tuple[User, str]:
    """`accounts.sign_in` for this request; a browser's form must be same-origin."""
    db: Database = request.app.state.db
    settings: Settings = request.app.state.settings
    client = client_address(request)

    def checked() -> tuple[User, str]:
        if kind == TokenKind.session:
            require_same_origin(request, settings, db)
        return accounts.sign_in(db, settings, username, password, kind, client)

    try:
        return await anyio.to_thread.run_sync(checked)
    except TooManyRequestsError:
        await anyio.sleep(REFUSAL_DELAY_SECONDS)
        raise
