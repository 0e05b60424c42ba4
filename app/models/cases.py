"""Cases, their slides, reports, acknowledgements and events: one family per entity.

Machine forms are stable lower-case strings; the labels the screens show are in
`CATEGORY_LABELS`. A report row is written once, when it is signed, and never
changed (the migration adds triggers that refuse UPDATE and DELETE): an
amendment is a new row with a higher `version` and a `reason`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.attachments import AttachmentPublic
from app.models.opinions import CaseMessagePublic, CosignPublic, OpinionPublic
from app.models.types import EnumText, UTCDateTime, utcnow
from tiler.reasons import N_


class CaseType(StrEnum):
    frozen_section = "frozen_section"
    routine = "routine"
    second_opinion = "second_opinion"


class CasePriority(StrEnum):
    urgent = "urgent"
    routine = "routine"


class CaseStatus(StrEnum):
    requested = "requested"
    slides_uploading = "slides_uploading"
    ready = "ready"
    in_review = "in_review"
    reported = "reported"
    acknowledged = "acknowledged"
    amended = "amended"
    cancelled = "cancelled"


class Sex(StrEnum):
    female = "female"
    male = "male"
    other = "other"
    unknown = "unknown"


class Laterality(StrEnum):
    left = "left"
    right = "right"
    bilateral = "bilateral"
    midline = "midline"
    not_applicable = "not_applicable"


class Category(StrEnum):
    """The frozen-section diagnosis category, in its machine form (fits 16 characters)."""

    benign = "benign"
    malignant = "malignant"
    atypical = "atypical"
    deferred = "deferred"
    non_diagnostic = "non_diagnostic"


#: What the screens print for each category: the wording of the issue.
#: In English, and marked for the catalog: the report documents say them in the reader's
#: language (`app.services.reports.words`), the pages with the same msgids.
CATEGORY_LABELS: dict[Category, str] = {
    Category.benign: N_("benign"),
    Category.malignant: N_("malignant"),
    Category.atypical: N_("atypical / suspicious"),
    Category.deferred: N_("deferred to permanent sections"),
    Category.non_diagnostic: N_("non-diagnostic"),
}


# --- cases -----------------------------------------------------------------------------


class CaseFields(SQLModel):
    """What the requesting site says about the patient and the specimen."""

    patient_mrn: str = Field(min_length=1, max_length=64, description="medical record number")
    patient_name: str = Field(min_length=1, max_length=200)
    patient_dob: date | None = Field(default=None, description="date of birth")
    patient_sex: Sex = Field(default=Sex.unknown, sa_type=EnumText)
    specimen_site: str = Field(min_length=1, max_length=200, description="e.g. breast, thyroid")
    specimen_laterality: Laterality = Field(default=Laterality.not_applicable, sa_type=EnumText)
    specimen_type: str = Field(default="", max_length=200, description="e.g. margin, lymph node")
    clinical_question: str = Field(min_length=1, max_length=2000)
    surgeon_name: str | None = Field(default=None, max_length=200)
    operating_room: str | None = Field(default=None, max_length=64)
    history: str | None = Field(default=None, max_length=4000)


class CaseCreate(CaseFields):
    type: CaseType = CaseType.frozen_section
    priority: CasePriority | None = Field(
        default=None, description="frozen sections are always urgent; others default routine"
    )
    site: str | None = Field(default=None, max_length=32, description="site code (admins)")


class CaseUpdate(SQLModel):
    """PATCH: any of the request's fields, while no pathologist has claimed the case.

    A field left out stays as it is. Only the fields the request may leave empty take
    `null`; the others are typed without it (a `null` MRN is a 422, never a NOT NULL
    violation in the database)."""

    # `= Field(default=None)` on a type without None: absent is allowed, null is refused.
    patient_mrn: str = Field(default=None, min_length=1, max_length=64)
    patient_name: str = Field(default=None, min_length=1, max_length=200)
    patient_dob: date | None = None
    patient_sex: Sex = Field(default=None)
    specimen_site: str = Field(default=None, min_length=1, max_length=200)
    specimen_laterality: Laterality = Field(default=None)
    specimen_type: str = Field(default=None, max_length=200)
    clinical_question: str = Field(default=None, min_length=1, max_length=2000)
    surgeon_name: str | None = Field(default=None, max_length=200)
    operating_room: str | None = Field(default=None, max_length=64)
    history: str | None = Field(default=None, max_length=4000)
    priority: CasePriority = Field(default=None)


class CaseTimes(SQLModel):
    """Server timestamps of the transitions; None until it happened."""

    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    first_slide_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    slides_ready_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_viewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reported_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="first signed report"
    )
    acknowledged_at: datetime | None = Field(
        default=None, sa_type=UTCDateTime, description="latest acknowledgement"
    )
    amended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Case(CaseFields, CaseTimes, table=True):
    __tablename__ = "pathology_case"
    __table_args__ = (Index("ix_pathology_case_site_status", "site_id", "status"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    site_id: uuid.UUID = Field(foreign_key="site.id", index=True)
    type: CaseType = Field(sa_type=EnumText)
    priority: CasePriority = Field(sa_type=EnumText)
    status: CaseStatus = Field(default=CaseStatus.requested, sa_type=EnumText)
    #: Bumped by every change, so a screen keeps the newest of two snapshots.
    version: int = 1
    requested_by: str | None = Field(default=None, max_length=64)
    claimed_by_id: uuid.UUID | None = Field(default=None, foreign_key="app_user.id")
    claimed_by: str | None = Field(default=None, max_length=64)
    report_version: int = Field(default=0, description="latest signed report; 0 = none")
    acknowledged_version: int = Field(default=0, description="report version last acknowledged")
    acknowledged_by: str | None = Field(default=None, max_length=64)
    cancelled_by: str | None = Field(default=None, max_length=64)
    cancel_reason: str | None = Field(default=None, max_length=500)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CaseSlide(SQLModel, table=True):
    """A slide of a case; a slide belongs to one case at most."""

    __tablename__ = "case_slide"
    slide_id: uuid.UUID = Field(foreign_key="slide.id", primary_key=True, ondelete="CASCADE")
    case_id: uuid.UUID = Field(foreign_key="pathology_case.id", index=True)
    attached_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    attached_by: str | None = Field(default=None, max_length=64)


class CaseUpload(SQLModel, table=True):
    """An upload with a `case` the ingest step has dealt with: attached or refused, once."""

    __tablename__ = "case_upload"
    upload_id: uuid.UUID = Field(primary_key=True)
    case_id: uuid.UUID | None = Field(default=None)
    slide_id: uuid.UUID | None = Field(default=None)
    outcome: str = Field(max_length=16, description="attached | refused")
    detail: str | None = Field(default=None, max_length=500)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# --- reports -----------------------------------------------------------------------------


class ReportFields(SQLModel):
    category: Category = Field(sa_type=EnumText)
    diagnosis: str = Field(min_length=1, max_length=4000)
    margins: str | None = Field(default=None, max_length=1000, description="where relevant")
    comment: str | None = Field(default=None, max_length=2000, description="to the surgeon")
    transfer: bool = Field(
        default=False,
        description="two-way referral: the pathologist recommends transferring the patient "
        "to the hub; the surgeon acknowledges it with the rest of the report",
    )
    transfer_note: str | None = Field(
        default=None, max_length=1000, description="why, and how soon (with `transfer`)"
    )


class ReportCreate(ReportFields):
    password: str = Field(min_length=1, max_length=256, description="re-entered to sign")


class AmendCreate(ReportCreate):
    reason: str = Field(min_length=1, max_length=1000)


class Report(ReportFields, table=True):
    """A signed report version: append-only (database triggers refuse changes)."""

    __tablename__ = "case_report"
    __table_args__ = (UniqueConstraint("case_id", "version", name="uq_case_report_version"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="pathology_case.id", index=True)
    version: int
    reason: str | None = Field(default=None, max_length=1000, description="why amended")
    signed_by_id: uuid.UUID = Field(foreign_key="app_user.id")
    signed_by: str = Field(max_length=64)
    signed_by_name: str | None = Field(default=None, max_length=200)
    signed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ReportRegion(SQLModel, table=True):
    """A region the pathologist marked "include in report", frozen with the report version
    that pictured it: the picture (slide pixels with the annotations drawn) is made at
    signing, so the document of a version never changes, whatever happens to the slide
    or its annotations afterwards. Append-only, like the report."""

    __tablename__ = "case_report_region"
    __table_args__ = (
        UniqueConstraint("case_id", "report_version", "position", name="uq_case_report_region"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="pathology_case.id", index=True)
    report_version: int
    position: int = Field(description="order in the document, from 1")
    #: No foreign keys to the slide or annotation: they may be deleted, the report stays.
    slide_id: uuid.UUID
    slide_number: int = Field(description="the slide's place in the case, from 1")
    annotation_id: uuid.UUID
    annotation_version: int
    class_name: str | None = Field(default=None, max_length=100)
    comment: str | None = Field(default=None, max_length=2000)
    geometry: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    l0_x: int
    l0_y: int
    l0_width: int
    l0_height: int
    #: µm per level-0 pixel (None: the slide has no calibration).
    mpp: float | None = None
    image_jpeg: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    image_width: int
    image_height: int


class ReportPublic(ReportFields):
    version: int
    category_label: str
    reason: str | None
    signed_by: str
    signed_by_name: str | None
    signed_at: datetime


class AcknowledgeRequest(SQLModel):
    """Optional: the version the screen showed, so an amendment in between is not acknowledged
    unseen (409), and the surgeon's read-back."""

    report_version: int | None = Field(default=None, ge=1)
    read_back: str | None = Field(default=None, max_length=500)


class CancelRequest(SQLModel):
    reason: str | None = Field(default=None, max_length=500)


class AttachRequest(SQLModel):
    slide: uuid.UUID


class Acknowledgement(SQLModel, table=True):
    __tablename__ = "case_acknowledgement"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="pathology_case.id", index=True)
    report_version: int
    user_id: uuid.UUID = Field(foreign_key="app_user.id")
    username: str = Field(max_length=64)
    full_name: str | None = Field(default=None, max_length=200)
    read_back: str | None = Field(default=None, max_length=500)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AcknowledgementPublic(SQLModel):
    report_version: int
    username: str
    full_name: str | None
    read_back: str | None
    at: datetime


# --- events ------------------------------------------------------------------------------


class CaseEvent(SQLModel, table=True):
    """One transition or change of a case. The integer id is the SSE event id: a
    reconnecting screen sends the last one it saw and gets what it missed."""

    __tablename__ = "case_event"
    __table_args__ = (Index("ix_case_event_site_id_id", "site_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="pathology_case.id", index=True)
    site_id: uuid.UUID = Field(foreign_key="site.id")
    kind: str = Field(max_length=32)
    status: CaseStatus = Field(sa_type=EnumText, description="the case's status after it")
    username: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=500)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CaseEventPublic(SQLModel):
    id: int
    kind: str
    status: CaseStatus
    username: str | None
    detail: str | None
    at: datetime


# --- what the API answers ----------------------------------------------------------------


class Clock(SQLModel):
    """Minutes as the server counts them; it stops when the first report is signed."""

    server_time: datetime
    minutes_since_requested: float
    minutes_since_ready: float | None
    running: bool


class SlideState(SQLModel):
    uploading: int = Field(description="uploads into the case still receiving bytes")
    attached: int
    viewable: int = Field(
        description="not failed, and registered or (arriving) with its overview in: "
        "the pathologist can look at it"
    )
    failed: int
    arriving: int = Field(default=0, description="attached slides whose bytes still arrive")
    overview_pending: int = Field(
        default=0, description="arriving slides whose overview is not in yet"
    )
    received: float | None = Field(
        default=None, description="fraction of the arriving slides' bytes at the hub, 0..1"
    )


class CasePublic(CaseFields, CaseTimes):
    id: uuid.UUID
    site: str = Field(max_length=32)
    type: CaseType
    priority: CasePriority
    status: CaseStatus
    version: int
    requested_by: str | None
    claimed_by: str | None
    report_version: int
    acknowledged_version: int
    acknowledged_by: str | None
    cancelled_by: str | None
    cancel_reason: str | None
    slides: list[uuid.UUID]
    slide_state: SlideState
    clock: Clock
    report: ReportPublic | None = Field(description="the current signed version")
    reports: list[ReportPublic] = Field(description="every signed version, oldest first")
    acknowledgements: list[AcknowledgementPublic]
    timeline: list[CaseEventPublic]
    opinions: list[OpinionPublic] = Field(default=[], description="second opinions asked")
    thread: list[CaseMessagePublic] = Field(default=[], description="the case's thread")
    cosigns: list[CosignPublic] = Field(default=[], description="colleagues' co-signatures")
    attachments: list[AttachmentPublic] = Field(
        default=[], description="photographs, camera images and documents, oldest first"
    )


class CaseList(SQLModel):
    items: list[CasePublic]
    total: int
