"""Annotations: the current feature per annotation and every kept version.

Revision ID: 0003_annotations
Revises: 0002_uploads
Create Date: 2026-11-25 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_annotations"
down_revision = "0002_uploads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "annotation",
        sa.Column("slide_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("class_name", sa.String(length=100), nullable=True),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("area_px", sa.Float(), nullable=False),
        sa.Column("length_px", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provenance", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["slide_id"], ["slide.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("slide_id", "id"),
    )
    op.create_table(
        "annotation_version",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slide_id", sa.Uuid(), nullable=False),
        sa.Column("annotation_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=True),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["slide_id"], ["slide.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slide_id", "annotation_id", "version", name="uq_annotation_version"),
    )
    op.create_index(
        "ix_annotation_version_feature",
        "annotation_version",
        ["slide_id", "annotation_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_annotation_version_feature", table_name="annotation_version")
    op.drop_table("annotation_version")
    op.drop_table("annotation")
