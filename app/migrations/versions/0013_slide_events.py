"""Slide events kept for a day: a viewer's stream catches up by Last-Event-ID on any process.

Revision ID: 0013_slide_events
Revises: 0010_request_id
Create Date: 2026-11-30 01:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models.types import UTCDateTime

revision = "0013_slide_events"
down_revision = "0010_request_id"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slide_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slide_id", sa.Uuid(), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_slide_event_at", "slide_event", ["at"], unique=False)
    op.create_index("ix_slide_event_slide_id_id", "slide_event", ["slide_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_slide_event_slide_id_id", table_name="slide_event")
    op.drop_index("ix_slide_event_at", table_name="slide_event")
    op.drop_table("slide_event")
