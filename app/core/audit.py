"""The audit trail: one function every route calls to record a read or change of patient data.

Each event is its own short transaction, committed even when the request that
caused it fails, so denied and failed attempts are on record too (IHE ATNA's
"who, what, when, where, outcome"). Tiles are not audited one by one: opening a
slide (its .dzi or IIIF info.json) is the event.

Refusals that a client can repeat at will (a locked sign-in, a revoked token, a
cross-site POST) go through `refusals`: every one is on record, in bursts.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass

from app.core import request_id
from app.core.db import Database
from app.models.accounts import User
from app.models.audit import AuditEvent, Outcome

log = logging.getLogger(__name__)


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
    request: str | None = None,
) -> None:
    """`request`: the request id, if not the current request's (a burst recorded later)."""
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
        request_id=request or request_id.current(),
    )
    with db.write() as session:
        session.add(event)


#: Refusals with one key within this many seconds make at most two audit events.
BURST_SECONDS = 5.0


@dataclass
class _Burst:
    db: Database
    actor: Actor
    action: str
    reason: str
    #: The first refused request's id; the burst's count is recorded after it ended.
    request: str | None = None
    more: int = 0


class RefusalAudit:
    """Every refusal of a flood is on record, in at most two events per key per burst.

    The first refusal of a quiet key is recorded at once; the ones that follow within
    `seconds` are counted and recorded as one event when the burst ends. An event per
    refusal would make the flood a write (and an fsync) per request and fill the
    append-only table."""

    def __init__(self, seconds: float = BURST_SECONDS) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._bursts: dict[tuple[int, str], _Burst] = {}

    def refuse(self, db: Database, actor: Actor, action: str, key: str, reason: str) -> None:
        """Record that `actor` was refused `action`; `key` says which refusals are one
        flood (the same user name and address, the same token, ...)."""
        burst_key = (id(db), key)
        with self._lock:
            burst = self._bursts.get(burst_key)
            if burst is not None:
                burst.more += 1
                burst.reason = reason
                return
            self._bursts[burst_key] = _Burst(db, actor, action, reason, request_id.current())
        record(db, actor, action, Outcome.denied, detail=reason)
        timer = threading.Timer(self.seconds, self._flush, args=(burst_key,))
        timer.daemon = True
        timer.start()

    def _flush(self, burst_key: tuple[int, str]) -> None:
        with self._lock:
            burst = self._bursts.pop(burst_key)
        if not burst.more:
            return
        detail = f"{burst.more} more refused within {self.seconds:g} s: {burst.reason}"
        try:
            record(
                burst.db, burst.actor, burst.action, Outcome.denied, detail=detail,
                request=burst.request,
            )  # fmt: skip
        except Exception:  # the app stopped meanwhile (its database is gone)
            log.exception("audit: %s lost", detail)


#: One per process: the bursts of every app in it.
refusals = RefusalAudit()
