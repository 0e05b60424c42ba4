"""Uploads name their case by a foreign key, now that cases exist.

`upload.case_id` was free text from the client's metadata (checked only when the
finished upload was attached). It becomes a UUID referencing `pathology_case`.
Existing values that name no case are cleared: such an upload was refused when
it was attached, and keeps its row.

Revision ID: 0005_upload_case_key
Revises: 0004_cases
Create Date: 2026-11-29 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_upload_case_key"
down_revision = "0004_cases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE upload SET case_id = NULL WHERE case_id IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM pathology_case c WHERE c.id::text = lower(upload.case_id))"
        )
        op.execute("ALTER TABLE upload ALTER COLUMN case_id TYPE uuid USING case_id::uuid")
    else:
        # SQLite keeps a UUID as 32 hex digits (`sa.Uuid` without native support).
        op.execute(
            "UPDATE upload SET case_id = NULL WHERE case_id IS NOT NULL AND "
            "replace(lower(case_id), '-', '') NOT IN (SELECT id FROM pathology_case)"
        )
        op.execute("UPDATE upload SET case_id = replace(lower(case_id), '-', '')")
    with op.batch_alter_table("upload") as batch_op:
        batch_op.alter_column(
            "case_id", existing_type=sa.String(length=64), type_=sa.Uuid(), nullable=True
        )
        batch_op.create_index(batch_op.f("ix_upload_case_id"), ["case_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_upload_case_id_pathology_case"), "pathology_case", ["case_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("upload") as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_upload_case_id_pathology_case"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_upload_case_id"))
        batch_op.alter_column(
            "case_id", existing_type=sa.Uuid(), type_=sa.String(length=64), nullable=True
        )
