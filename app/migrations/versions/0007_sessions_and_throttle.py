"""Sessions with an idle timeout and kiosk screens; failed sign-ins counted for throttling.

`api_token.last_used_at` (the idle timeout), `api_token.kiosk_site_id` (an
operating-room screen's session) and the `login_throttle` table (failures per
account and per client address, shared by every process).

Revision ID: 0007_sessions_and_throttle
Revises: 0006_transfers
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models.types import UTCDateTime

revision = "0007_sessions_and_throttle"
down_revision = "0006_transfers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Float(), nullable=False),
        sa.Column("last_failure_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_until", UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("api_token") as batch_op:
        batch_op.add_column(sa.Column("last_used_at", UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("kiosk_site_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_api_token_kiosk_site_id_site"),
            "site",
            ["kiosk_site_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("api_token") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_token_kiosk_site_id_site"), type_="foreignkey")
        batch_op.drop_column("kiosk_site_id")
        batch_op.drop_column("last_used_at")
    op.drop_table("login_throttle")
