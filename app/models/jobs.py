"""Durable background jobs (pyramid builds): the row, not any queue, is the truth."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.models.types import EnumText, UTCDateTime, utcnow


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class Job(SQLModel, table=True):
    """A durable unit of background work; the row, not any queue, is the truth.

    A worker owns a running job while `lease_expires_at` is in the future and
    renews it by heartbeat; a lease that ran out means the worker died, and the
    job can be claimed again.
    """

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_claim", "state", "priority", "created_at"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    slide_id: uuid.UUID = Field(foreign_key="slide.id", index=True, ondelete="CASCADE")
    kind: str = Field(default="pyramid", max_length=32)
    priority: int = Field(default=0, description="higher runs first; urgent cases use 10")
    state: JobState = Field(default=JobState.queued, sa_type=EnumText)
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


URGENT_PRIORITY = 10
