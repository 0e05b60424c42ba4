"""Teaching collections: de-identified copies (slides of no site), answers, conferences.

`slide.site_id` becomes nullable: a teaching copy belongs to its collection, not to
a site. New tables: `teaching_collection`, `teaching_item`, `teaching_copy`,
`teaching_answer`, `teaching_conference` with its participants and walkthrough steps.

Revision ID: 0012_teaching
Revises: 0014_user_language
Create Date: 2026-11-30 01:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.models.types import EnumText, UTCDateTime

revision = "0012_teaching"
down_revision = "0014_user_language"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teaching_collection",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("av_link", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["app_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "teaching_conference",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        sa.Column("teacher_id", sa.Uuid(), nullable=False),
        sa.Column("teacher", sa.String(length=64), nullable=False),
        sa.Column("av_link", sa.String(length=500), nullable=True),
        sa.Column("presenter", sa.String(length=64), nullable=False),
        sa.Column("slide_id", sa.Uuid(), nullable=True),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["collection_id"], ["teaching_collection.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["teacher_id"],
            ["app_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("teaching_conference", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_teaching_conference_collection_id"), ["collection_id"], unique=False
        )

    op.create_table(
        "teaching_item",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("collection_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", EnumText(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("specimen_site", sa.String(length=200), nullable=True),
        sa.Column("category", EnumText(length=16), nullable=True),
        sa.Column("diagnosis", sa.String(length=4000), nullable=True),
        sa.Column("reported_by", sa.String(length=200), nullable=True),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["collection_id"], ["teaching_collection.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("teaching_item", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_teaching_item_collection_id"), ["collection_id"], unique=False
        )

    op.create_table(
        "teaching_answer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("category", EnumText(length=16), nullable=False),
        sa.Column("text", sa.String(length=4000), nullable=False),
        sa.Column("answered_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["teaching_item.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id", "user_id", name="uq_teaching_answer_user"),
    )
    with op.batch_alter_table("teaching_answer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teaching_answer_item_id"), ["item_id"], unique=False)

    op.create_table(
        "teaching_conference_participant",
        sa.Column("conference_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("joined_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("hand_raised_at", UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["conference_id"], ["teaching_conference.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("conference_id", "user_id"),
    )
    op.create_table(
        "teaching_conference_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conference_id", sa.Uuid(), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("slide_id", sa.Uuid(), nullable=False),
        sa.Column("presenter", sa.String(length=64), nullable=False),
        sa.Column("view", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["conference_id"], ["teaching_conference.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("teaching_conference_step", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_teaching_conference_step_conference_id"), ["conference_id"], unique=False
        )

    op.create_table(
        "teaching_copy",
        sa.Column("slide_id", sa.Uuid(), nullable=False),
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["teaching_item.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["slide_id"], ["slide.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("slide_id"),
    )
    with op.batch_alter_table("teaching_copy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_teaching_copy_item_id"), ["item_id"], unique=False)

    with op.batch_alter_table("slide", schema=None) as batch_op:
        batch_op.alter_column("site_id", existing_type=sa.Uuid(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("slide", schema=None) as batch_op:
        batch_op.alter_column("site_id", existing_type=sa.Uuid(), nullable=False)

    with op.batch_alter_table("teaching_copy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teaching_copy_item_id"))

    op.drop_table("teaching_copy")
    with op.batch_alter_table("teaching_conference_step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teaching_conference_step_conference_id"))

    op.drop_table("teaching_conference_step")
    op.drop_table("teaching_conference_participant")
    with op.batch_alter_table("teaching_answer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teaching_answer_item_id"))

    op.drop_table("teaching_answer")
    with op.batch_alter_table("teaching_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teaching_item_collection_id"))

    op.drop_table("teaching_item")
    with op.batch_alter_table("teaching_conference", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_teaching_conference_collection_id"))

    op.drop_table("teaching_conference")
    op.drop_table("teaching_collection")
