"""Cases: the case, its slides and settled uploads, signed reports, acknowledgements, events.

Reports, acknowledgements and case events are append-only: triggers refuse UPDATE
and DELETE, as for the audit trail, so a signed diagnosis cannot be changed behind
the amendment process, even by a bug or a stray SQL session.

Revision ID: 0004_cases
Revises: 0003_annotations
Create Date: 2026-11-25 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_cases"
down_revision = "0003_annotations"
branch_labels = None
depends_on = None

APPEND_ONLY = ("case_report", "case_acknowledgement", "case_event")


def _when(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "pathology_case",
        _when("requested_at", nullable=False),
        _when("first_slide_at"),
        _when("slides_ready_at"),
        _when("claimed_at"),
        _when("first_viewed_at"),
        _when("reported_at"),
        _when("acknowledged_at"),
        _when("amended_at"),
        _when("cancelled_at"),
        sa.Column("patient_mrn", sa.String(length=64), nullable=False),
        sa.Column("patient_name", sa.String(length=200), nullable=False),
        sa.Column("patient_dob", sa.Date(), nullable=True),
        sa.Column("patient_sex", sa.String(length=16), nullable=False),
        sa.Column("specimen_site", sa.String(length=200), nullable=False),
        sa.Column("specimen_laterality", sa.String(length=16), nullable=False),
        sa.Column("specimen_type", sa.String(length=200), nullable=False),
        sa.Column("clinical_question", sa.String(length=2000), nullable=False),
        sa.Column("surgeon_name", sa.String(length=200), nullable=True),
        sa.Column("operating_room", sa.String(length=64), nullable=True),
        sa.Column("history", sa.String(length=4000), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_by_id", sa.Uuid(), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("report_version", sa.Integer(), nullable=False),
        sa.Column("acknowledged_version", sa.Integer(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("cancelled_by", sa.String(length=64), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        _when("updated_at", nullable=False),
        sa.ForeignKeyConstraint(["claimed_by_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_pathology_case_requested_at", "pathology_case", ["requested_at"])
    op.create_index("ix_pathology_case_site_id", "pathology_case", ["site_id"])
    op.create_index("ix_pathology_case_site_status", "pathology_case", ["site_id", "status"])

    op.create_table(
        "case_slide",
        sa.Column("slide_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        _when("attached_at", nullable=False),
        sa.Column("attached_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["pathology_case.id"]),
        sa.ForeignKeyConstraint(["slide_id"], ["slide.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("slide_id"),
    )
    op.create_index("ix_case_slide_case_id", "case_slide", ["case_id"])

    op.create_table(
        "case_upload",
        sa.Column("upload_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("slide_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        _when("at", nullable=False),
        sa.PrimaryKeyConstraint("upload_id"),
    )

    op.create_table(
        "case_report",
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("diagnosis", sa.String(length=4000), nullable=False),
        sa.Column("margins", sa.String(length=1000), nullable=True),
        sa.Column("comment", sa.String(length=2000), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("signed_by_id", sa.Uuid(), nullable=False),
        sa.Column("signed_by", sa.String(length=64), nullable=False),
        sa.Column("signed_by_name", sa.String(length=200), nullable=True),
        _when("signed_at", nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["pathology_case.id"]),
        sa.ForeignKeyConstraint(["signed_by_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "version", name="uq_case_report_version"),
    )
    op.create_index("ix_case_report_case_id", "case_report", ["case_id"])

    op.create_table(
        "case_acknowledgement",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("report_version", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=True),
        sa.Column("read_back", sa.String(length=500), nullable=True),
        _when("at", nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["pathology_case.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_acknowledgement_case_id", "case_acknowledgement", ["case_id"])

    op.create_table(
        "case_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("site_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=True),
        _when("at", nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["pathology_case.id"]),
        sa.ForeignKeyConstraint(["site_id"], ["site.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_event_case_id", "case_event", ["case_id"])
    op.create_index("ix_case_event_site_id_id", "case_event", ["site_id", "id"])
    _append_only()


def _append_only() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(
            "CREATE FUNCTION case_record_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME; END $$"
        )
    for table in APPEND_ONLY:
        if postgres:
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
    if postgres:
        op.execute("DROP FUNCTION case_record_append_only()")
    for table in ("case_event", "case_acknowledgement", "case_report", "case_upload"):
        op.drop_table(table)
    op.drop_table("case_slide")
    op.drop_table("pathology_case")
