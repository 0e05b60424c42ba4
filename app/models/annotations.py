"""Annotation tables: the current feature per annotation, and every version it had.

A feature is stored as its GeoJSON geometry and properties (JSON columns), so
what a client or QuPath sent comes back exactly; the measurements are computed
once, at write time, with shapely.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.types import EnumText, UTCDateTime, utcnow


class Annotation(SQLModel, table=True):
    """The current version of an annotation; its id is the GeoJSON feature id."""

    __tablename__ = "annotation"
    slide_id: uuid.UUID = Field(foreign_key="slide.id", primary_key=True, ondelete="CASCADE")
    id: uuid.UUID = Field(primary_key=True)
    version: int = 1
    class_name: str | None = Field(default=None, max_length=100)
    #: `properties.metadata.includeInReport == "true"`, kept as a column (like the class)
    #: so signing finds the regions to picture without reading every feature's JSON.
    in_report: bool = False
    geometry: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    properties: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    area_px: float = 0.0
    length_px: float = 0.0
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by: str | None = Field(default=None, max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    #: `properties.slidebridge` as JSON text, written with each change: listing 10,000
    #: annotations then splices stored text instead of formatting times and sizes.
    provenance: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class AnnotationVersion(SQLModel, table=True):
    """One kept version: the feature after a change (no geometry for a deletion), who, when."""

    __tablename__ = "annotation_version"
    __table_args__ = (
        UniqueConstraint("slide_id", "annotation_id", "version", name="uq_annotation_version"),
        Index("ix_annotation_version_feature", "slide_id", "annotation_id"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    slide_id: uuid.UUID = Field(foreign_key="slide.id", ondelete="CASCADE")
    annotation_id: uuid.UUID
    version: int
    change: str = Field(sa_type=EnumText)
    geometry: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    properties: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    author: str | None = Field(default=None, max_length=64)
    author_id: uuid.UUID | None = None
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AnnotationRevisionPublic(SQLModel):
    version: int
    change: str = Field(max_length=16)
    author: str | None = Field(default=None, max_length=64)
    at: datetime
    feature: dict[str, Any] | None


class RestoreRequest(SQLModel):
    version: int = Field(ge=1)


class ViewState(SQLModel):
    """A presenter's live view, in level-0 pixels: what followers show."""

    center: tuple[float, float]
    #: OpenSeadragon's zoom relative to level 0 (1 = one screen pixel per slide pixel).
    zoom: float = Field(gt=0, le=1000)
    rotation: float = Field(default=0, ge=-360, le=360)
    pointer: tuple[float, float] | None = None
    #: False when the presenter stops sharing.
    sharing: bool = True
    #: The presenting page's random id, so a presenter ignores its own echo.
    client: str | None = Field(default=None, max_length=64)
