"""Slides: the database record of a registered slide file (the open image is `tiler.Slide`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.types import EnumText, UTCDateTime, utcnow


class SlideStatus(StrEnum):
    #: Its bytes are still crossing the link (a progressive transfer): served from what
    #: has arrived.
    arriving = "arriving"
    queued = "queued"
    tiling = "tiling"
    ready = "ready"
    failed = "failed"


class Calibration(StrEnum):
    """Where a slide's µm per pixel comes from (none: the slide is uncalibrated)."""

    #: The file states it (a scanner's metadata, a TIFF resolution, OME physical size).
    file = "file"
    #: A user set it on a picture the file did not calibrate (audited: `slide.calibrate`).
    user = "user"


class SlideBase(SQLModel):
    name: str = Field(max_length=255)
    sha256: str = Field(max_length=64, index=True)
    status: SlideStatus = Field(default=SlideStatus.queued, sa_type=EnumText)
    progress: float = 0.0
    error: str | None = Field(default=None, max_length=1000)
    vendor: str = Field(max_length=64)
    width: int
    height: int
    mpp_x: float | None = None
    mpp_y: float | None = None
    objective_power: float | None = None
    calibration: Calibration | None = Field(default=None, sa_type=EnumText)
    #: The SHA-256 of the file the site sent, when what is stored is derived from it (a
    #: picture stored as its tiled copy); `sha256` is always that of what is stored.
    received_sha256: str | None = Field(default=None, max_length=64, index=True)


class SlideRecord(SlideBase, table=True):
    """A registered slide file of a site; several records may share one stored file."""

    __tablename__ = "slide"
    __table_args__ = (UniqueConstraint("site_id", "sha256", name="uq_slide_site_sha256"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    #: None for a de-identified teaching copy: its collection, not a site, decides access.
    site_id: uuid.UUID | None = Field(default=None, foreign_key="site.id", index=True)
    storage_path: str = Field(max_length=300, description="relative to the data directory")
    size_bytes: int = Field(sa_type=BigInteger)
    levels: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    associated: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LevelPublic(SQLModel):
    width: int
    height: int
    downsample: float


class SlidePublic(SlideBase):
    id: uuid.UUID
    site: str | None = Field(
        default=None, max_length=32, description="site code; none for a teaching copy"
    )
    levels: list[LevelPublic]
    associated: list[str]
    size_bytes: int
    created_at: datetime
    received: float = Field(
        default=1.0, description="fraction of the file's bytes at the hub, 0..1 (arriving)"
    )


class CalibrationUpdate(SQLModel):
    """A user's calibration of a picture the file did not calibrate, in µm per pixel
    (a stage micrometer's reading); `mpp_y` defaults to `mpp_x` (square pixels)."""

    mpp_x: float = Field(gt=0, le=50, description="µm per pixel across")
    mpp_y: float | None = Field(default=None, gt=0, le=50, description="µm per pixel down")


class SlideList(SQLModel):
    items: list[SlidePublic]
    total: int
