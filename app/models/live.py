"""Slide events kept for a while, so a viewer's stream catches up by `Last-Event-ID`."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from app.models.types import UTCDateTime, utcnow


class SlideEvent(SQLModel, table=True):
    """An annotation change or a slide-arrival event, as its stream sent it. The integer
    id is the SSE event id; rows older than a day are pruned (a viewer away longer
    reloads the slide). No foreign key: a deleted slide's events go with the pruning."""

    __tablename__ = "slide_event"
    __table_args__ = (Index("ix_slide_event_slide_id_id", "slide_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    slide_id: uuid.UUID
    event: str = Field(max_length=32)
    #: The frame's JSON data.
    data: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
