"""Teaching collections of de-identified slide copies, trainees' answers, and conferences.

A collection holds items (a reported case or a single slide, added by a
pathologist); each item has one or more copies, which are ordinary slide rows with
no site: the copy's access is the collection's (`app.core.access`), never the
original's site. No row here points back at the original case or slide, and nothing
about the patient is copied: the item keeps the diagnosis (category and text, with
the patient's name and record number struck out), the specimen site, and the
annotations on the copies. (The audit log, which admins alone read, records which
original a copy was made from: the access to patient data it was.)
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.cases import Category
from app.models.types import EnumText, UTCDateTime, utcnow

#: Participants of one conference (the issue's scale); a 101st is refused.
MAX_PARTICIPANTS = 100


class ItemKind(StrEnum):
    case = "case"
    slide = "slide"


# --- collections -------------------------------------------------------------------------


class CollectionBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    #: The site's own audio/video room for conferences on this collection (not ours to run).
    av_link: str | None = Field(
        default=None, max_length=500, schema_extra={"pattern": r"^https?://\S+$"}
    )


class CollectionCreate(CollectionBase):
    pass


class TeachingCollection(CollectionBase, table=True):
    __tablename__ = "teaching_collection"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    created_by_id: uuid.UUID = Field(foreign_key="app_user.id")
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ItemCreate(SQLModel):
    """`{"case": ID}` (every slide of a reported case) or `{"slide": ID}`."""

    case: uuid.UUID | None = None
    slide: uuid.UUID | None = None
    title: str | None = Field(default=None, max_length=200, description="default: Case N")


class TeachingItem(SQLModel, table=True):
    __tablename__ = "teaching_item"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    collection_id: uuid.UUID = Field(
        foreign_key="teaching_collection.id", index=True, ondelete="CASCADE"
    )
    position: int
    kind: ItemKind = Field(sa_type=EnumText)
    title: str = Field(max_length=200)
    specimen_site: str | None = Field(default=None, max_length=200)
    category: Category | None = Field(default=None, sa_type=EnumText)
    diagnosis: str | None = Field(default=None, max_length=4000)
    reported_by: str | None = Field(default=None, max_length=200)
    added_by: str = Field(max_length=64)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TeachingCopy(SQLModel, table=True):
    """A de-identified copy: an ordinary slide row (no site) that belongs to an item."""

    __tablename__ = "teaching_copy"
    slide_id: uuid.UUID = Field(foreign_key="slide.id", primary_key=True, ondelete="CASCADE")
    item_id: uuid.UUID = Field(foreign_key="teaching_item.id", index=True, ondelete="CASCADE")
    position: int


# --- answers -----------------------------------------------------------------------------


class AnswerCreate(SQLModel):
    category: Category
    text: str = Field(min_length=1, max_length=4000)


class TeachingAnswer(SQLModel, table=True):
    """A trainee's diagnosis of an item: written once, before the expert's is shown."""

    __tablename__ = "teaching_answer"
    __table_args__ = (UniqueConstraint("item_id", "user_id", name="uq_teaching_answer_user"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    item_id: uuid.UUID = Field(foreign_key="teaching_item.id", index=True, ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="app_user.id", ondelete="CASCADE")
    username: str = Field(max_length=64)
    category: Category = Field(sa_type=EnumText)
    text: str = Field(max_length=4000)
    answered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- conferences -------------------------------------------------------------------------


class ConferenceCreate(SQLModel):
    av_link: str | None = Field(
        default=None, max_length=500, schema_extra={"pattern": r"^https?://\S+$"}
    )


class Conference(SQLModel, table=True):
    __tablename__ = "teaching_conference"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    collection_id: uuid.UUID = Field(
        foreign_key="teaching_collection.id", index=True, ondelete="CASCADE"
    )
    teacher_id: uuid.UUID = Field(foreign_key="app_user.id")
    teacher: str = Field(max_length=64)
    av_link: str | None = Field(default=None, max_length=500)
    #: Who moves the view now: the teacher, or the participant handed the pointer.
    presenter: str = Field(max_length=64)
    slide_id: uuid.UUID | None = Field(default=None)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ConferenceParticipant(SQLModel, table=True):
    __tablename__ = "teaching_conference_participant"
    conference_id: uuid.UUID = Field(
        foreign_key="teaching_conference.id", primary_key=True, ondelete="CASCADE"
    )
    user_id: uuid.UUID = Field(foreign_key="app_user.id", primary_key=True, ondelete="CASCADE")
    username: str = Field(max_length=64)
    joined_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    hand_raised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ConferenceStep(SQLModel, table=True):
    """One view of the walkthrough: the slide path, replayable in order."""

    __tablename__ = "teaching_conference_step"
    id: int | None = Field(default=None, primary_key=True)
    conference_id: uuid.UUID = Field(
        foreign_key="teaching_conference.id", index=True, ondelete="CASCADE"
    )
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    slide_id: uuid.UUID
    presenter: str = Field(max_length=64)
    view: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


# --- what the API answers ------------------------------------------------------------------


class ItemPublic(SQLModel):
    id: uuid.UUID
    position: int
    kind: ItemKind
    title: str
    specimen_site: str | None
    slides: list[uuid.UUID]
    #: The expert's diagnosis: teachers always; a trainee once they answered.
    category: Category | None = None
    category_label: str | None = None
    diagnosis: str | None = None
    reported_by: str | None = None
    #: The asking trainee's own answer, if any.
    answer: AnswerPublic | None = None
    answers: int = Field(default=0, description="trainees who answered")


class AnswerPublic(SQLModel):
    username: str
    category: Category
    category_label: str
    text: str
    answered_at: datetime
    agrees: bool = Field(description="same category as the expert's")


class CollectionPublic(CollectionBase):
    id: uuid.UUID
    created_by: str
    created_at: datetime
    items: list[ItemPublic] = []


class ProgressRow(SQLModel):
    username: str
    answered: int
    agreed: int
    of: int


class ClassAnswers(SQLModel):
    """The teacher's view: every trainee's answers per item, and each trainee's progress."""

    progress: list[ProgressRow]
    answers: dict[str, list[AnswerPublic]] = Field(description="by item id")


class ParticipantPublic(SQLModel):
    username: str
    joined_at: datetime
    hand_raised: bool


class ConferencePublic(SQLModel):
    id: uuid.UUID
    collection_id: uuid.UUID
    teacher: str
    presenter: str
    av_link: str | None
    slide_id: uuid.UUID | None
    started_at: datetime
    ended_at: datetime | None
    participants: list[ParticipantPublic] = []


class HandRequest(SQLModel):
    raised: bool = True


class PointerRequest(SQLModel):
    username: str = Field(max_length=64)


class ConferenceView(SQLModel):
    """The presenter's view on one copy of the collection (the shared-view shape + slide)."""

    slide: uuid.UUID
    center: tuple[float, float]
    zoom: float = Field(gt=0, le=1000)
    rotation: float = Field(default=0, ge=-360, le=360)
    pointer: tuple[float, float] | None = None
    #: The presenter shows the copy's annotations: participants draw them too.
    annotations: bool = False
    client: str | None = Field(default=None, max_length=64)


class StepPublic(SQLModel):
    at: datetime
    slide_id: uuid.UUID
    presenter: str
    view: dict[str, Any]
