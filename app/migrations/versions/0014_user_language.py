"""Each user's language for the pages (`app_user.language`, a BCP 47 tag; null: the
browser's).

Revision ID: 0014_user_language
Revises: 0013_slide_events
Create Date: 2026-11-30 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_user_language"
down_revision = "0013_slide_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("app_user") as batch_op:
        batch_op.drop_column("language")
