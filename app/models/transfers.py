"""Progressive transfers: a slide file arriving as byte ranges, in the order it is needed.

The `Transfer` row says what is coming (declared size and SHA-256, site, case) and
where it stands; each received range is one `TransferRange` row, written once after
its bytes are fsynced at their offset in the transfer's sparse part file. The rows,
not any process's memory, are the truth about which bytes arrived.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.types import EnumText, UTCDateTime, utcnow


class TransferStatus(StrEnum):
    receiving = "receiving"
    completed = "completed"
    failed = "failed"


class TransferCreate(SQLModel):
    """What the agent declares before the first byte."""

    filename: str = Field(min_length=1, max_length=255, description="display text only")
    size: int = Field(gt=0, description="the file's length in bytes")
    sha256: str = Field(min_length=64, max_length=64, schema_extra={"pattern": "^[0-9a-f]{64}$"})
    site: str | None = Field(default=None, max_length=32, description="site code")
    case: uuid.UUID | None = Field(default=None, description="the case the slide is for")


class Transfer(SQLModel, table=True):
    __tablename__ = "transfer"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    slide_id: uuid.UUID = Field(foreign_key="slide.id", index=True, ondelete="CASCADE")
    site_id: uuid.UUID = Field(foreign_key="site.id", index=True)
    user_id: uuid.UUID | None = Field(
        default=None, foreign_key="app_user.id", index=True, ondelete="SET NULL"
    )
    case_id: uuid.UUID | None = Field(default=None, foreign_key="pathology_case.id", index=True)
    filename: str = Field(max_length=255, description="display text only, never a path")
    suffix: str = Field(default="", max_length=16, description="the file name's safe suffix")
    size: int = Field(sa_type=BigInteger)
    sha256: str = Field(max_length=64, index=True, description="the agent's declaration")
    received_bytes: int = Field(default=0, sa_type=BigInteger)
    status: TransferStatus = Field(default=TransferStatus.receiving, sa_type=EnumText)
    error: str | None = Field(default=None, max_length=1000)
    #: When every Deep Zoom level at 1/16 of full resolution or coarser became final.
    overview_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TransferRange(SQLModel, table=True):
    """One received range, [start, end) of the file; never changed once written."""

    __tablename__ = "transfer_range"
    __table_args__ = (
        UniqueConstraint("transfer_id", "start", name="uq_transfer_range_start"),
        Index("ix_transfer_range_transfer_id_id", "transfer_id", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    transfer_id: uuid.UUID = Field(foreign_key="transfer.id", ondelete="CASCADE")
    start: int = Field(sa_type=BigInteger)
    end: int = Field(sa_type=BigInteger)
    sha256: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TransferPublic(SQLModel):
    id: uuid.UUID
    slide_id: uuid.UUID
    site: str = Field(max_length=32)
    case_id: uuid.UUID | None
    filename: str
    size: int
    sha256: str
    status: TransferStatus
    error: str | None
    received_bytes: int
    received: float = Field(description="fraction of the file's bytes received, 0..1")
    overview_at: datetime | None
    created_at: datetime
    expires_at: datetime
    completed_at: datetime | None
    #: What the hub wants next, most urgent first: ranges behind tiles a viewer asked for.
    wanted: list[tuple[int, int]]
    #: Every received interval (merged), so a restarted agent sends nothing twice.
    ranges: list[tuple[int, int]]


class ArrivalMap(SQLModel):
    """Which full-resolution tiles of a slide have arrived, for the viewer's navigator."""

    status: str = Field(max_length=16)
    received: float = Field(description="fraction of the file's bytes at the hub, 0..1")
    overview: bool = Field(description="every level at 1/16 of full resolution or coarser is final")
    cols: int = Field(default=0, description="full-resolution tile columns")
    rows: int = Field(default=0)
    tile_width: int = Field(default=0, description="level-0 pixels per tile column")
    tile_height: int = Field(default=0)
    arrived: str | None = Field(
        default=None,
        description="base64 of the rows x cols arrived flags, row by row, 8 per byte, most "
        "significant bit first (numpy.packbits); None when the slide is whole",
    )
