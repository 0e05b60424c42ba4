"""Where a slide's calibration comes from: the file, or a user (a picture the file did
not calibrate). Slides with a calibration before this revision had it from their file.

Revision ID: 0009_calibration
Revises: 0007_sessions_and_throttle
Create Date: 2026-11-30 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_calibration"
down_revision = "0007_sessions_and_throttle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("slide") as batch_op:
        batch_op.add_column(sa.Column("calibration", sa.String(length=16), nullable=True))
    op.execute("UPDATE slide SET calibration = 'file' WHERE mpp_x IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("slide") as batch_op:
        batch_op.drop_column("calibration")
