"""Attachments on a case (`case_attachment`) and the purpose of an upload
(`upload.purpose`: a slide, or an attachment of its case).

Revision ID: 0015_attachments
Revises: 0011_report_out
Create Date: 2026-11-30 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models.types import UTCDateTime

revision = "0015_attachments"
down_revision = "0011_report_out"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "upload",
        sa.Column("purpose", sa.String(length=16), nullable=False, server_default="slide"),
    )
    op.create_table(
        "case_attachment",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("slide_id", sa.Uuid(), nullable=True),
        sa.Column("storage_path", sa.String(length=300), nullable=True),
        sa.Column("upload_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("received_type", sa.String(length=32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("received_sha256", sa.String(length=64), nullable=False),
        sa.Column("active_content", sa.String(length=200), nullable=True),
        sa.Column("added_by", sa.String(length=64), nullable=True),
        sa.Column("added_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["pathology_case.id"]),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"]),
        sa.ForeignKeyConstraint(["slide_id"], ["slide.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("upload_id"),
    )
    for column in ("case_id", "site_id", "slide_id"):
        op.create_index(f"ix_case_attachment_{column}", "case_attachment", [column])


def downgrade() -> None:
    op.drop_table("case_attachment")
    with op.batch_alter_table("upload") as batch_op:
        batch_op.drop_column("purpose")
