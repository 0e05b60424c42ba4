"""The audit trail's rows: who did what to which patient data, when, from where, how it ended."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.models.types import EnumText, UTCDateTime, utcnow


class Outcome(StrEnum):
    success = "success"
    denied = "denied"
    not_found = "not_found"
    failure = "failure"


class AuditEventBase(SQLModel):
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    username: str | None = Field(default=None, max_length=64, index=True)
    action: str = Field(max_length=64, index=True)
    object_type: str | None = Field(default=None, max_length=32)
    object_id: str | None = Field(default=None, max_length=64, index=True)
    site_id: uuid.UUID | None = Field(default=None, index=True)
    client: str | None = Field(default=None, max_length=64)
    outcome: Outcome = Field(sa_type=EnumText)
    detail: str | None = Field(default=None, max_length=500)
    #: The request that caused it (`X-Request-ID`): its log lines carry the same id.
    request_id: str | None = Field(default=None, max_length=64, index=True)


class AuditEvent(AuditEventBase, table=True):
    """Append-only: the database refuses UPDATE and DELETE (triggers in the migration)."""

    __tablename__ = "audit_event"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID | None = Field(default=None)


class AuditEventPublic(AuditEventBase):
    id: uuid.UUID
    user_id: uuid.UUID | None


class AuditPage(SQLModel):
    items: list[AuditEventPublic]
    total: int
    offset: int
    limit: int
