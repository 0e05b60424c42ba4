"""The report leaves the system; second opinions; the transfer recommendation.

Regions pictured in a report, frozen with its version:

`annotation.in_report` mirrors `properties.metadata.includeInReport`; the
`case_report_region` table keeps, per report version, each marked region's picture
(slide pixels with the annotations drawn, made at signing). Append-only, like
`case_report` (the same trigger function on PostgreSQL).

Second opinions: named groups of pathologists, the opinions asked (of a user or a
group), the case's thread (append-only) and colleagues' co-signatures (append-only).

`case_report.transfer` and `transfer_note`: a report can recommend transferring the
patient to the hub ("two-way referral"), acknowledged by the surgeon with the rest.

Revision ID: 0011_report_out
Revises: 0012_teaching
Create Date: 2026-11-30 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models.types import UTCDateTime

revision = "0011_report_out"
down_revision = "0012_teaching"
branch_labels = None
depends_on = None

APPEND_ONLY = ("case_report_region", "case_message", "case_report_cosign")


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
    _opinions()
    _append_only()
    # Plain ADD COLUMNs (no batch copy on SQLite, which would drop case_report's
    # append-only triggers); adding a column fires no row trigger.
    op.add_column(
        "case_report",
        sa.Column("transfer", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("case_report", sa.Column("transfer_note", sa.String(length=1000), nullable=True))


def _opinions() -> None:
    op.create_table(
        "pathologist_group",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pathologist_group_name", "pathologist_group", ["name"], unique=True)
    op.create_table(
        "pathologist_group_member",
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["pathologist_group.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "user_id"),
    )
    op.create_table(
        "case_opinion",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("asked_by_id", sa.Uuid(), nullable=False),
        sa.Column("asked_by", sa.String(length=64), nullable=False),
        sa.Column("asked_of", sa.String(length=80), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("asked_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_by", sa.String(length=64), nullable=True),
        sa.Column("answered_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["pathology_case.id"]),
        sa.ForeignKeyConstraint(["asked_by_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["group_id"], ["pathologist_group.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_opinion_case_id", "case_opinion", ["case_id"])
    op.create_table(
        "case_message",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("opinion_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=True),
        sa.Column("body", sa.String(length=4000), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["pathology_case.id"]),
        sa.ForeignKeyConstraint(["opinion_id"], ["case_opinion.id"]),
        sa.ForeignKeyConstraint(["author_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_message_case_id", "case_message", ["case_id"])
    op.create_table(
        "case_report_cosign",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("report_version", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=True),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["pathology_case.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "report_version", "user_id", name="uq_case_report_cosign"),
    )
    op.create_index("ix_case_report_cosign_case_id", "case_report_cosign", ["case_id"])


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
    op.drop_column("case_report", "transfer_note")
    op.drop_column("case_report", "transfer")
    for table in APPEND_ONLY:
        if postgres:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        else:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER {table}_no_{verb}")
    for table in ("case_report_cosign", "case_message", "case_opinion"):
        op.drop_table(table)
    op.drop_table("pathologist_group_member")
    op.drop_table("pathologist_group")
    op.drop_table("case_report_region")
    with op.batch_alter_table("annotation") as batch_op:
        batch_op.drop_column("in_report")
