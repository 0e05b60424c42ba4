"""Tables and API shapes, one family per entity as in full-stack-fastapi-template.

`XBase` holds the shared fields, `XCreate` what a client sends, `XPublic` what the
API answers, `X(table=True)` the row. Secrets (password hash, token digest) exist
only on the table models. Ids are UUIDs, times are timezone-aware UTC, and every
string has a max_length.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.core.types import EnumText, UTCDateTime, utcnow

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"


class Role(StrEnum):
    admin = "admin"
    pathologist = "pathologist"
    surgeon = "surgeon"
    technician = "technician"


#: Roles that belong to exactly one site; pathologists cover sites, admins see all.
SITE_ROLES = frozenset({Role.surgeon, Role.technician})


class SlideStatus(StrEnum):
    queued = "queued"
    tiling = "tiling"
    ready = "ready"
    failed = "failed"


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class Outcome(StrEnum):
    success = "success"
    denied = "denied"
    not_found = "not_found"
    failure = "failure"


# --- sites -------------------------------------------------------------------------


class SiteBase(SQLModel):
    code: str = Field(
        max_length=32, schema_extra={"pattern": CODE_PATTERN}, unique=True, index=True
    )
    name: str = Field(min_length=1, max_length=200)


class SiteCreate(SiteBase):
    pass


class Site(SiteBase, table=True):
    __tablename__ = "site"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SitePublic(SiteBase):
    id: uuid.UUID


# --- users -------------------------------------------------------------------------


class UserBase(SQLModel):
    username: str = Field(
        max_length=64, schema_extra={"pattern": CODE_PATTERN}, unique=True, index=True
    )
    role: Role = Field(sa_type=EnumText)
    full_name: str | None = Field(default=None, max_length=200)


class UserCreate(UserBase):
    password: str = Field(min_length=10, max_length=256)
    site: str | None = Field(default=None, max_length=32, description="site code")
    covers: list[str] = Field(default_factory=list, description="site codes (pathologists)")


class User(UserBase, table=True):
    __tablename__ = "app_user"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    site_id: uuid.UUID | None = Field(default=None, foreign_key="site.id", index=True)
    password_hash: str = Field(max_length=255)
    is_active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UserPublic(UserBase):
    id: uuid.UUID
    site: str | None = None
    covers: list[str] = []


class SiteCover(SQLModel, table=True):
    """A pathologist's coverage of a site: they see its slides."""

    __tablename__ = "site_cover"
    user_id: uuid.UUID = Field(foreign_key="app_user.id", primary_key=True, ondelete="CASCADE")
    site_id: uuid.UUID = Field(foreign_key="site.id", primary_key=True, ondelete="CASCADE")


# --- tokens and browser sessions -----------------------------------------------------


class TokenKind(StrEnum):
    bearer = "bearer"
    session = "session"


class ApiToken(SQLModel, table=True):
    """A bearer token or a browser session: only its HMAC digest is stored.

    One table for both, because both are "a secret that stands for a user until it
    expires or is revoked"; `kind` keeps a session cookie from working as a bearer
    token and the other way round.
    """

    __tablename__ = "api_token"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="app_user.id", index=True, ondelete="CASCADE")
    kind: TokenKind = Field(sa_type=EnumText)
    digest: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Token(SQLModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret


# --- audit ---------------------------------------------------------------------------


class AuditEventBase(SQLModel):
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    username: str | None = Field(default=None, max_length=64, index=True)
    action: str = Field(max_length=64, index=True)
    object_type: str | None = Field(default=None, max_length=32)
    object_id: str | None = Field(default=None, max_length=64, index=True)
    site_id: uuid.UUID | None = Field(default=None, index=True)
    client: str | None = Field(default=None, max_length=64)
    outcome: Outcome = Field(sa_type=EnumText)
    detail: str | None = Field(default=None, max_length=500)


class AuditEvent(AuditEventBase, table=True):
    """Append-only: the database refuses UPDATE and DELETE (triggers in the migration)."""

    __tablename__ = "audit_event"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID | None = Field(default=None)


class AuditEventPublic(AuditEventBase):
    id: uuid.UUID
    user_id: uuid.UUID | None


class AuditPage(SQLModel):
    items: list[AuditEventPublic]
    total: int
    offset: int
    limit: int


# --- slides --------------------------------------------------------------------------


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


class Slide(SlideBase, table=True):
    __tablename__ = "slide"
    __table_args__ = (UniqueConstraint("site_id", "sha256", name="uq_slide_site_sha256"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    site_id: uuid.UUID = Field(foreign_key="site.id", index=True)
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
    site: str = Field(max_length=32, description="site code")
    levels: list[LevelPublic]
    associated: list[str]
    size_bytes: int
    created_at: datetime


class SlideList(SQLModel):
    items: list[SlidePublic]
    total: int


# --- jobs ----------------------------------------------------------------------------


class Job(SQLModel, table=True):
    """A durable unit of background work; the row, not any queue, is the truth.

    A worker owns a running job while `lease_expires_at` is in the future and
    renews it by heartbeat; a lease that ran out means the worker died, and the
    job can be claimed again.
    """

    __tablename__ = "job"
    __table_args__ = (Index("ix_job_claim", "state", "priority", "created_at"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    slide_id: uuid.UUID = Field(foreign_key="slide.id", index=True, ondelete="CASCADE")
    kind: str = Field(default="pyramid", max_length=32)
    priority: int = Field(default=0, description="higher runs first; urgent cases use 10")
    state: JobState = Field(default=JobState.queued, sa_type=EnumText)
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=128)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


URGENT_PRIORITY = 10
