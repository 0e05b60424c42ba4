"""A case as the API and the live screens see it: its fields, slides, reports and clock.

Built in batches (one query per related table for a whole page of cases), so the
worklist costs the same few queries for one case or a hundred.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple, TypeVar

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.models.accounts import Site
from app.models.cases import (
    CATEGORY_LABELS,
    Acknowledgement,
    AcknowledgementPublic,
    Case,
    CaseEvent,
    CaseEventPublic,
    CasePublic,
    CaseSlide,
    Clock,
    Report,
    ReportPublic,
    SlideState,
)
from app.models.opinions import (
    CaseMessage,
    CaseMessagePublic,
    CosignPublic,
    Opinion,
    OpinionPublic,
    ReportCosign,
)
from app.models.slides import SlideRecord, SlideStatus
from app.models.transfers import Transfer, TransferStatus
from app.models.types import utcnow
from app.models.uploads import Upload, UploadPurpose, UploadStatus
from app.services.attachments import views as attachments

T = TypeVar("T")


def minutes(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds() / 60, 2)


def clock(case: Case, now: datetime) -> Clock:
    """Counting from the request; it stops at the first signed report (or a cancel)."""
    end = case.reported_at or case.cancelled_at or now
    ready = minutes(case.slides_ready_at, end) if case.slides_ready_at else None
    return Clock(
        server_time=now,
        minutes_since_requested=minutes(case.requested_at, end),
        minutes_since_ready=ready,
        running=case.reported_at is None and case.cancelled_at is None,
    )


def report_public(report: Report) -> ReportPublic:
    return ReportPublic(
        version=report.version,
        category=report.category,
        category_label=CATEGORY_LABELS[report.category],
        diagnosis=report.diagnosis,
        margins=report.margins,
        comment=report.comment,
        transfer=report.transfer,
        transfer_note=report.transfer_note,
        reason=report.reason,
        signed_by=report.signed_by,
        signed_by_name=report.signed_by_name,
        signed_at=report.signed_at,
    )


def _grouped(rows: Sequence[T], key: str) -> dict[uuid.UUID, list[T]]:
    grouped: dict[uuid.UUID, list[T]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, key)].append(row)
    return grouped


def _uploading(session: Session, cases: Sequence[Case]) -> dict[uuid.UUID, int]:
    """Uploads still receiving into each case (an upload names only a case of its own
    site: that is checked when it is created)."""
    rows = session.exec(
        select(Upload.case_id, func.count())
        .where(
            col(Upload.case_id).in_([case.id for case in cases]),
            Upload.status == UploadStatus.receiving,
            Upload.purpose == UploadPurpose.slide,
            col(Upload.expires_at) > utcnow(),
        )
        .group_by(col(Upload.case_id))
    ).all()
    counts: dict[uuid.UUID, int] = defaultdict(int)
    counts.update({case_id: count for case_id, count in rows if case_id is not None})
    return counts


class Arrival(NamedTuple):
    received: int
    size: int
    overview: bool


def _arriving(session: Session, slide_ids: list[uuid.UUID]) -> dict[uuid.UUID, Arrival]:
    """The progressive transfers still bringing these slides' bytes."""
    if not slide_ids:
        return {}
    rows = session.exec(
        select(Transfer.slide_id, Transfer.received_bytes, Transfer.size, Transfer.overview_at)
        .where(col(Transfer.slide_id).in_(slide_ids))
        .where(Transfer.status == TransferStatus.receiving)
    ).all()
    return {slide_id: Arrival(got, size, at is not None) for slide_id, got, size, at in rows}


def snapshots(session: Session, cases: Sequence[Case]) -> list[CasePublic]:
    if not cases:
        return []
    now = utcnow()
    ids = [case.id for case in cases]
    codes = dict(
        session.exec(
            select(Site.id, Site.code).where(col(Site.id).in_({c.site_id for c in cases}))
        ).all()
    )
    slide_rows = session.exec(
        select(CaseSlide.case_id, SlideRecord.id, SlideRecord.status)
        .join(SlideRecord, col(SlideRecord.id) == col(CaseSlide.slide_id))
        .where(col(CaseSlide.case_id).in_(ids))
        .order_by(col(CaseSlide.attached_at), col(SlideRecord.id))
    ).all()
    slides: dict[uuid.UUID, list[tuple[uuid.UUID, SlideStatus]]] = defaultdict(list)
    for case_id, slide_id, status in slide_rows:
        slides[case_id].append((slide_id, SlideStatus(status)))
    reports = _grouped(
        session.exec(
            select(Report).where(col(Report.case_id).in_(ids)).order_by(col(Report.version))
        ).all(),
        "case_id",
    )
    acks = _grouped(
        session.exec(
            select(Acknowledgement)
            .where(col(Acknowledgement.case_id).in_(ids))
            .order_by(col(Acknowledgement.at))
        ).all(),
        "case_id",
    )
    events = _grouped(
        session.exec(
            select(CaseEvent).where(col(CaseEvent.case_id).in_(ids)).order_by(col(CaseEvent.id))
        ).all(),
        "case_id",
    )
    uploading = _uploading(session, cases)
    arriving = _arriving(session, [slide_id for case_id, slide_id, _ in slide_rows])
    talk = _discussion(session, ids)
    attached = attachments.of_cases(session, ids)
    return [
        _public(
            case,
            codes[case.site_id],
            slides[case.id],
            reports[case.id],
            acks[case.id],
            events[case.id],
            uploading[case.id],
            arriving,
            now,
        ).model_copy(
            update={
                **talk.of(case.id),
                "attachments": [attachments.to_public(row) for row in attached[case.id]],
            }
        )
        for case in cases
    ]


class _Discussion(NamedTuple):
    opinions: dict[uuid.UUID, list[Opinion]]
    messages: dict[uuid.UUID, list[CaseMessage]]
    cosigns: dict[uuid.UUID, list[ReportCosign]]

    def of(self, case_id: uuid.UUID) -> dict[str, object]:
        return {
            "opinions": [OpinionPublic.model_validate(o) for o in self.opinions[case_id]],
            "thread": [CaseMessagePublic.model_validate(m) for m in self.messages[case_id]],
            "cosigns": [CosignPublic.model_validate(c) for c in self.cosigns[case_id]],
        }


def _discussion(session: Session, ids: list[uuid.UUID]) -> _Discussion:
    """Second opinions, the thread and co-signatures of a page of cases: three queries."""
    return _Discussion(
        _grouped(
            session.exec(
                select(Opinion).where(col(Opinion.case_id).in_(ids)).order_by(col(Opinion.asked_at))
            ).all(),
            "case_id",
        ),
        _grouped(
            session.exec(
                select(CaseMessage)
                .where(col(CaseMessage.case_id).in_(ids))
                .order_by(col(CaseMessage.at), col(CaseMessage.id))
            ).all(),
            "case_id",
        ),
        _grouped(
            session.exec(
                select(ReportCosign)
                .where(col(ReportCosign.case_id).in_(ids))
                .order_by(col(ReportCosign.at))
            ).all(),
            "case_id",
        ),
    )


def _public(
    case: Case,
    code: str,
    slides: list[tuple[uuid.UUID, SlideStatus]],
    reports: list[Report],
    acks: list[Acknowledgement],
    events: list[CaseEvent],
    uploading: int,
    arriving: dict[uuid.UUID, Arrival],
    now: datetime,
) -> CasePublic:
    failed = sum(1 for _, status in slides if status == SlideStatus.failed)
    coming = [arriving[slide_id] for slide_id, _ in slides if slide_id in arriving]
    pending = sum(1 for arrival in coming if not arrival.overview)
    size = sum(arrival.size for arrival in coming)
    versions = [report_public(report) for report in reports]
    return CasePublic.model_validate(
        case,
        update={
            "site": code,
            "slides": [slide_id for slide_id, _ in slides],
            "slide_state": SlideState(
                uploading=uploading,
                attached=len(slides),
                viewable=len(slides) - failed - pending,
                failed=failed,
                arriving=len(coming),
                overview_pending=pending,
                received=sum(a.received for a in coming) / size if size else None,
            ),
            "clock": clock(case, now),
            "report": versions[-1] if versions else None,
            "reports": versions,
            "acknowledgements": [AcknowledgementPublic.model_validate(ack) for ack in acks],
            "timeline": [CaseEventPublic.model_validate(event) for event in events],
        },
    )


def snapshot(session: Session, case_id: uuid.UUID) -> CasePublic | None:
    case = session.get(Case, case_id, populate_existing=True)
    return snapshots(session, [case])[0] if case is not None else None
