"""Attachments: photographs, camera images and documents that belong to a case.

An image attachment (a gross photograph, a microscope-camera capture) is stored as
a slide of the case's site, rewritten on arrival by the picture reader (orientation
applied, no metadata kept), so the viewer and annotations treat it as any slide; it
is not one of the case's slides (it does not count towards "slides ready"). A
document (a scanned request form, a prior report) is a PDF kept as it was received,
in the content-addressed store, and only ever served as a download.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from app.models.types import EnumText, UTCDateTime, utcnow


class AttachmentKind(StrEnum):
    #: Opens in the viewer (its `slide_id`).
    image = "image"
    #: A PDF, downloaded, never rendered by the hub.
    document = "document"


class AttachmentBase(SQLModel):
    name: str = Field(max_length=255, description="the sender's file name: display text only")
    kind: AttachmentKind = Field(sa_type=EnumText)
    received_type: str = Field(max_length=32, description="what the file was: image/jpeg, ...")
    size_bytes: int = Field(sa_type=BigInteger, description="of what is stored")
    sha256: str = Field(max_length=64, description="of what is stored")
    received_sha256: str = Field(max_length=64, description="of the file as it was sent")
    active_content: str | None = Field(
        default=None,
        max_length=200,
        description="a document's scripts or automatic actions (e.g. /JavaScript /OpenAction):"
        " kept as sent, never run by the hub; open it only in a viewer that does not run them",
    )
    added_by: str | None = Field(default=None, max_length=64)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Attachment(AttachmentBase, table=True):
    __tablename__ = "case_attachment"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="pathology_case.id", index=True)
    site_id: uuid.UUID = Field(foreign_key="site.id", index=True)
    #: The image's slide (kind image); None for a document. A slide an admin deletes takes
    #: its attachment with it.
    slide_id: uuid.UUID | None = Field(
        default=None, foreign_key="slide.id", index=True, ondelete="CASCADE"
    )
    #: A document's file, relative to the data directory (`app.core.storage.content_path`).
    storage_path: str | None = Field(default=None, max_length=300)
    #: The upload it came from: one attachment per upload, whatever retries happen.
    upload_id: uuid.UUID | None = Field(default=None, unique=True)


class AttachmentPublic(AttachmentBase):
    id: uuid.UUID
    case_id: uuid.UUID
    slide_id: uuid.UUID | None
    href: str = Field(max_length=200, description="where to open it: the viewer or a download")


class AttachmentList(SQLModel):
    items: list[AttachmentPublic]
