"""A slide's events that a viewer must not miss: kept as rows, sent with their row id.

Annotation changes and arrival events are written here before they go out live (the
row id is the frame's SSE `id:`), so a viewer's stream that reconnects, to any web
process, sends `Last-Event-ID` and gets what it missed (`replay`). Shared views are
not kept: the next one replaces them within 100 ms. Rows older than `KEEP` are pruned.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, text
from sqlmodel import col, select

from app.core.db import Database
from app.models.live import SlideEvent
from app.models.types import utcnow
from app.services.live import LiveHub, sse_message

#: How long events stay for catching up; a viewer away longer reloads the slide.
KEEP = timedelta(days=1)
#: Most events replayed on reconnect (the viewer also reloads its state on `ready`).
CATCH_UP_LIMIT = 1000
#: Prune once per this many events (a cheap indexed delete).
PRUNE_EVERY = 500
#: PostgreSQL advisory lock serialising event inserts: ids then commit in their order, so
#: a client that saw id N never misses a smaller id committed later.
_ORDER_LOCK = 0x5EE_E7E7


def publish(
    db: Database, hub: LiveHub, slide_id: uuid.UUID, event: str, data: dict[str, Any]
) -> int:
    """Keep the event, then send it live with its id (call it in a thread); answers the id."""
    return publish_many(db, hub, slide_id, event, [data])[0]


def publish_many(
    db: Database, hub: LiveHub, slide_id: uuid.UUID, event: str, items: list[dict[str, Any]]
) -> list[int]:
    """Several events in one transaction (an import of 10,000 annotations is one commit)."""
    with db.write() as session:
        if not db.is_sqlite:  # SQLite's writes are serial already
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ORDER_LOCK})
        rows = [
            SlideEvent(slide_id=slide_id, event=event, data=json.dumps(data, separators=(",", ":")))
            for data in items
        ]
        session.add_all(rows)
        session.flush()
        ids = [row.id for row in rows if row.id is not None]
    for event_id, data in zip(ids, items, strict=True):
        hub.publish(slide_id, event, data, event_id=event_id)
    if any(event_id % PRUNE_EVERY == 0 for event_id in ids):  # each process prunes in turn
        prune(db)
    return ids


def replay(db: Database, slide_id: uuid.UUID, after: int) -> list[str]:
    """The frames of the slide's kept events after `after`, oldest first."""
    with db.read() as session:
        rows = session.exec(
            select(SlideEvent)
            .where(SlideEvent.slide_id == slide_id, col(SlideEvent.id) > after)
            .order_by(col(SlideEvent.id))
            .limit(CATCH_UP_LIMIT)
        ).all()
    return [sse_message(row.event, json.loads(row.data), row.id) for row in rows]


def prune(db: Database) -> None:
    with db.write() as session:
        session.execute(delete(SlideEvent).where(col(SlideEvent.at) < utcnow() - KEEP))
