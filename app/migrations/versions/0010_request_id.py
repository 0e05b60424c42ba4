"""The request id on audit rows: an audit event and the log lines of its request match.

Revision ID: 0010_request_id
Revises: 0009_readers
Create Date: 2026-11-30 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_request_id"
down_revision = "0009_readers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, also on SQLite: the append-only table is never copied (its
    # triggers refuse the DELETE a batch rebuild would not even need).
    op.add_column("audit_event", sa.Column("request_id", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_audit_event_request_id"), "audit_event", ["request_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_event_request_id"), table_name="audit_event")
    op.drop_column("audit_event", "request_id")
