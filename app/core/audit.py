"""The audit trail: one function every route calls to record a read or change of patient data.

Each event is its own short transaction, committed even when the request that
caused it fails, so denied and failed attempts are on record too (IHE ATNA's
"who, what, when, where, outcome"). Tiles are not audited one by one: opening a
slide (its .dzi or IIIF info.json) is the event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from app.core.db import Database
from app.models.accounts import User
from app.models.audit import AuditEvent, Outcome


@dataclass(frozen=True)
class Actor:
    """Who did it and from where; built once per request."""

    user_id: uuid.UUID | None
    username: str | None
    client: str | None

    @classmethod
    def of(cls, user: User | None, client: str | None) -> Actor:
        return cls(user.id if user else None, user.username if user else None, client)


def record(
    db: Database,
    actor: Actor,
    action: str,
    outcome: Outcome,
    *,
    object_type: str | None = None,
    object_id: uuid.UUID | str | None = None,
    site_id: uuid.UUID | None = None,
    detail: str | None = None,
) -> None:
    event = AuditEvent(
        user_id=actor.user_id,
        username=actor.username[:64] if actor.username else None,
        client=actor.client[:64] if actor.client else None,
        action=action,
        outcome=outcome,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        site_id=site_id,
        detail=detail[:500] if detail else None,
    )
    with db.write() as session:
        session.add(event)
