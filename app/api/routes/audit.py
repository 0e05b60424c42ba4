"""The audit trail for admins: read-only, filtered, paged. There is no route that changes it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func
from sqlmodel import col, select

from app.api.deps import CurrentAdmin, SessionDep
from app.api.paging import Offset
from app.models.audit import AuditEvent, AuditEventPublic, AuditPage, Outcome

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("")
def list_audit_events(
    _admin: CurrentAdmin,
    session: SessionDep,
    username: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    site_id: uuid.UUID | None = None,
    outcome: Outcome | None = None,
    request_id: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Newest first. `action` matches exactly or as a prefix ending in `.` (e.g. `slide.`)."""
    query = select(AuditEvent)
    if username is not None:
        query = query.where(AuditEvent.username == username)
    if action is not None:
        query = query.where(
            col(AuditEvent.action).startswith(action, autoescape=True)
            if action.endswith(".")
            else AuditEvent.action == action
        )
    if object_id is not None:
        query = query.where(AuditEvent.object_id == object_id)
    if site_id is not None:
        query = query.where(AuditEvent.site_id == site_id)
    if outcome is not None:
        query = query.where(AuditEvent.outcome == outcome)
    if request_id is not None:
        query = query.where(AuditEvent.request_id == request_id)
    if since is not None:
        query = query.where(col(AuditEvent.at) >= _aware(since))
    if until is not None:
        query = query.where(col(AuditEvent.at) < _aware(until))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id)).offset(offset).limit(limit)
    ).all()
    return AuditPage(
        items=[AuditEventPublic.model_validate(row) for row in rows],
        total=total,
        offset=offset,
        limit=limit,
    )


def _aware(moment: datetime) -> datetime:
    """Times without a zone are read as UTC, the zone the trail is kept in."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
