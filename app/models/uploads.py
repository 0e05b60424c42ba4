"""The Upload row: who sends what to which site, and how many bytes are durable.

`offset` is the only truth about received bytes: the part file may hold more
(written, not yet fsynced or committed), never less, and is cut back to `offset`
before each append.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from app.models.types import EnumText, UTCDateTime, utcnow


class UploadStatus(StrEnum):
    receiving = "receiving"
    completed = "completed"
    rejected = "rejected"


class UploadPurpose(StrEnum):
    #: A slide (of a case, when `case_id` is set).
    slide = "slide"
    #: An attachment of the case `case_id` (a photograph, a camera image, a PDF).
    attachment = "attachment"
    #: One file of a slide of several files (a DICOM series, MIRAX), sent resumably:
    #: kept, verified, until `POST /api/slides/sets` names it in a manifest.
    set_part = "set_part"


class UploadBase(SQLModel):
    filename: str = Field(max_length=255, description="display text only, never a path")
    length: int = Field(sa_type=BigInteger, description="declared Upload-Length")
    offset: int = Field(default=0, sa_type=BigInteger, description="bytes durable on disk")
    sha256: str | None = Field(default=None, max_length=64, description="client's claim")
    status: UploadStatus = Field(default=UploadStatus.receiving, sa_type=EnumText)
    error: str | None = Field(default=None, max_length=1000)
    slide_id: uuid.UUID | None = Field(default=None)
    purpose: UploadPurpose = Field(default=UploadPurpose.slide, sa_type=EnumText)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class Upload(UploadBase, table=True):
    __tablename__ = "upload"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    site_id: uuid.UUID = Field(foreign_key="site.id", index=True)
    user_id: uuid.UUID | None = Field(
        default=None, foreign_key="app_user.id", index=True, ondelete="SET NULL"
    )
    #: The case the file is for, checked at creation: a case of the upload's site.
    case_id: uuid.UUID | None = Field(default=None, foreign_key="pathology_case.id", index=True)


class UploadPublic(UploadBase):
    id: uuid.UUID
    case_id: uuid.UUID | None
    site: str = Field(max_length=32)
