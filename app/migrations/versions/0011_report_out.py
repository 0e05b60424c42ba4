"""The report leaves the system: regions pictured in a report, frozen with its version.

`annotation.in_report` mirrors `properties.metadata.includeInReport`; the
`case_report_region` table keeps, per report version, each marked region's picture
(slide pixels with the annotations drawn, made at signing). Append-only, like
`case_report` (the same trigger function on PostgreSQL).

Revision ID: 0011_report_out
Revises: 0007_sessions_and_throttle
Create Date: 2026-11-30 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_report_out"
down_revision = "0007_sessions_and_throttle"
branch_labels = None
depends_on = None

APPEND_ONLY = ("case_report_region",)


def upgrade() -> None:
    with op.batch_alter_table("annotation") as batch_op:
        batch_op.add_column(
            sa.Column("in_report", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "case_report_region",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("report_version", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("slide_id", sa.Uuid(), nullable=False),
        sa.Column("slide_number", sa.Integer(), nullable=False),
        sa.Column("annotation_id", sa.Uuid(), nullable=False),
        sa.Column("annotation_version", sa.Integer(), nullable=False),
        sa.Column("class_name", sa.String(length=100), nullable=True),
        sa.Column("comment", sa.String(length=2000), nullable=True),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("l0_x", sa.Integer(), nullable=False),
        sa.Column("l0_y", sa.Integer(), nullable=False),
        sa.Column("l0_width", sa.Integer(), nullable=False),
        sa.Column("l0_height", sa.Integer(), nullable=False),
        sa.Column("mpp", sa.Float(), nullable=True),
        sa.Column("image_jpeg", sa.LargeBinary(), nullable=False),
        sa.Column("image_width", sa.Integer(), nullable=False),
        sa.Column("image_height", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["pathology_case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "report_version", "position", name="uq_case_report_region"),
    )
    op.create_index("ix_case_report_region_case_id", "case_report_region", ["case_id"])
    _append_only()


def _append_only() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY:
        if postgres:  # case_record_append_only() is 0004's
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION case_record_append_only()"
            )
            continue
        for verb in ("update", "delete"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb} BEFORE {verb.upper()} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} rows are append-only'); END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in APPEND_ONLY:
        if postgres:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        else:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER {table}_no_{verb}")
    op.drop_table("case_report_region")
    with op.batch_alter_table("annotation") as batch_op:
        batch_op.drop_column("in_report")
