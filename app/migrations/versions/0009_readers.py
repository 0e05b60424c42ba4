"""Readers for every image: where a slide's calibration comes from (the file, or a user,
for a picture the file did not calibrate; slides calibrated before this revision had it
from their file), and the SHA-256 of the file received when the stored file is derived
from it (a picture stored as its tiled copy).

Revision ID: 0009_readers
Revises: 0007_sessions_and_throttle
Create Date: 2026-11-30 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_readers"
down_revision = "0007_sessions_and_throttle"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("slide") as batch_op:
        batch_op.add_column(sa.Column("calibration", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("received_sha256", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_slide_received_sha256"), ["received_sha256"], unique=False
        )
    op.execute("UPDATE slide SET calibration = 'file' WHERE mpp_x IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("slide") as batch_op:
        batch_op.drop_index(batch_op.f("ix_slide_received_sha256"))
        batch_op.drop_column("received_sha256")
        batch_op.drop_column("calibration")
