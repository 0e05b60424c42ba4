"""Sites, users and their credentials (bearer tokens and browser sessions).

Secrets (password hash, token digest) exist only on the table models.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from app.models.types import EnumText, UTCDateTime, utcnow

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"


class Role(StrEnum):
    admin = "admin"
    pathologist = "pathologist"
    surgeon = "surgeon"
    technician = "technician"
    #: County and township doctors in training: teaching collections only, of no site.
    trainee = "trainee"


#: Roles that belong to exactly one site; pathologists cover sites, admins see all.
SITE_ROLES = frozenset({Role.surgeon, Role.technician})


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
    #: The pages' language (a BCP 47 tag of `app.core.i18n.LANGUAGES`); None: the
    #: browser's (Accept-Language).
    language: str | None = Field(default=None, max_length=16)


class UserPublic(UserBase):
    id: uuid.UUID
    site: str | None = None
    covers: list[str] = []
    is_active: bool = True
    language: str | None = None
    #: `GET /api/users/me` only: this request's session is an operating-room kiosk.
    kiosk: bool = False


class LanguageChoice(SQLModel):
    """`PUT /api/users/me/language`: a tag of `app.core.i18n.LANGUAGES`, or None for
    the browser's language."""

    language: str | None = Field(default=None, max_length=16)


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
    #: When a request last used it (written at most once a minute): the idle timeout.
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: A kiosk session: the operating-room screen of this site, no idle timeout, and
    #: good for that screen's requests only (`app.api.kiosk`).
    kiosk_site_id: uuid.UUID | None = Field(default=None, foreign_key="site.id", ondelete="CASCADE")


class Token(SQLModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
