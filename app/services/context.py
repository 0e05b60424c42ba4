"""Who acts, where to write, and where to push: what every service action is given.

A route builds one per request (`app.api.deps.ContextDep`); the services record
the audit event and publish the live event themselves, so no route can forget either.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.audit import Actor
from app.core.db import Database
from app.models.accounts import User
from app.services.live import LiveHub


@dataclass(frozen=True)
class Context:
    db: Database
    hub: LiveHub
    user: User
    actor: Actor
