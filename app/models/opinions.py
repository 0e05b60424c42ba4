"""Second opinions: the reporting pathologist asks a colleague, or a named group of
pathologists, for an opinion on a case; the answer goes into the case's thread.

The thread (`CaseMessage`) is append-only, like reports and events: what a colleague
said stays in the case's history. An opinion is not a signed report; a colleague who
agrees with the signed version may co-sign it (`ReportCosign`, password re-entered).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.types import EnumText, UTCDateTime, utcnow


class PathologistGroup(SQLModel, table=True):
    """A named group of pathologists (e.g. "breast", "on call") one can ask at once."""

    __tablename__ = "pathologist_group"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PathologistGroupMember(SQLModel, table=True):
    __tablename__ = "pathologist_group_member"
    group_id: uuid.UUID = Field(
        foreign_key="pathologist_group.id", primary_key=True, ondelete="CASCADE"
    )
    user_id: uuid.UUID = Field(foreign_key="app_user.id", primary_key=True, ondelete="CASCADE")


class OpinionStatus(StrEnum):
    open = "open"
    answered = "answered"


class OpinionRequest(SQLModel):
    """`POST /api/cases/{id}/opinions`: a colleague (user name) or a group, and a note."""

    to_user: str | None = Field(default=None, max_length=64)
    to_group: str | None = Field(default=None, max_length=64)
    note: str = Field(min_length=1, max_length=2000)


class Opinion(SQLModel, table=True):
    __tablename__ = "case_opinion"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="pathology_case.id", index=True)
    asked_by_id: uuid.UUID = Field(foreign_key="app_user.id")
    asked_by: str = Field(max_length=64)
    #: Whom it was asked of, as the screens say it: a user name or "group NAME".
    asked_of: str = Field(max_length=80)
    group_id: uuid.UUID | None = Field(default=None, foreign_key="pathologist_group.id")
    #: The user names it reached when asked (a group's members then).
    recipients: list[str] = Field(sa_column=Column(JSON, nullable=False))
    note: str = Field(max_length=2000)
    status: OpinionStatus = Field(default=OpinionStatus.open, sa_type=EnumText)
    asked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    answered_by: str | None = Field(default=None, max_length=64)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OpinionPublic(SQLModel):
    id: uuid.UUID
    asked_by: str
    asked_of: str
    recipients: list[str]
    note: str
    status: OpinionStatus
    asked_at: datetime
    answered_by: str | None
    answered_at: datetime | None


class MessageKind(StrEnum):
    question = "question"  # an opinion asked
    opinion = "opinion"  # a colleague's answer
    note = "note"  # anything else said in the thread


class MessageCreate(SQLModel):
    """`POST /api/cases/{id}/messages`: `opinion` names the request this answers."""

    body: str = Field(min_length=1, max_length=4000)
    opinion: uuid.UUID | None = None


class CaseMessage(SQLModel, table=True):
    """One message of the case's thread (append-only)."""

    __tablename__ = "case_message"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="pathology_case.id", index=True)
    opinion_id: uuid.UUID | None = Field(default=None, foreign_key="case_opinion.id")
    kind: MessageKind = Field(sa_type=EnumText)
    author_id: uuid.UUID = Field(foreign_key="app_user.id")
    author: str = Field(max_length=64)
    author_name: str | None = Field(default=None, max_length=200)
    body: str = Field(max_length=4000)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CaseMessagePublic(SQLModel):
    id: uuid.UUID
    opinion_id: uuid.UUID | None
    kind: MessageKind
    author: str
    author_name: str | None
    body: str
    at: datetime


class CosignRequest(SQLModel):
    report_version: int = Field(ge=1, description="the version read, so none is co-signed unseen")
    password: str = Field(min_length=1, max_length=256)


class ReportCosign(SQLModel, table=True):
    """A colleague's signature beside the reporting pathologist's on one version."""

    __tablename__ = "case_report_cosign"
    __table_args__ = (
        UniqueConstraint("case_id", "report_version", "user_id", name="uq_case_report_cosign"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="pathology_case.id", index=True)
    report_version: int
    user_id: uuid.UUID = Field(foreign_key="app_user.id")
    username: str = Field(max_length=64)
    full_name: str | None = Field(default=None, max_length=200)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CosignPublic(SQLModel):
    report_version: int
    username: str
    full_name: str | None
    at: datetime


class Colleague(SQLModel):
    username: str
    full_name: str | None


class ColleagueGroup(SQLModel):
    name: str
    members: list[str] = Field(description="its members who cover the case's site")


class ColleaguesPublic(SQLModel):
    """Whom the reporting pathologist can ask: pathologists covering the case's site."""

    users: list[Colleague]
    groups: list[ColleagueGroup]
