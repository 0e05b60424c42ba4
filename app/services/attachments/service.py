"""Attachments as the API sees them: a case's list, and a document's bytes; audited.

The case decides access (its site's rules, as for its slides): another site's case,
and so its attachments, does not exist for the caller. An image attachment is opened
in the viewer as the slide it is stored as; only documents have a file route. Until
the case is reported, its site's staff and pathologists can remove an attachment.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlmodel import Session, col, select

from app.core import audit
from app.core.access import check_may_attach, visible_case
from app.core.config import Settings
from app.core.errors import ConflictError
from app.core.i18n import N_
from app.core.storage import slide_file
from app.models.attachments import Attachment, AttachmentKind, AttachmentList
from app.models.audit import Outcome
from app.models.cases import Case, CaseEvent, CaseSlide, CaseStatus
from app.models.slides import SlideRecord
from app.models.teaching import TeachingCopy
from app.services import slides as slide_service
from app.services.attachments.views import of_cases, to_public
from app.services.audited import visible_case_audited
from app.services.cases import service as case_service
from app.services.context import Context
from tiler import NotFoundError, SlideBridgeError

#: The case event of a removal (an addition is `intake.EVENT_KIND`).
REMOVED_EVENT = "attachment_removed"


def list_for_case(ctx: Context, case_id: str) -> AttachmentList:
    with ctx.db.read() as session:
        case = visible_case_audited(session, ctx, case_id, "attachment.list")
        rows = of_cases(session, [case.id])[case.id]
    return AttachmentList(items=[to_public(row) for row in rows])


def _find(session: Session, ctx: Context, case_id: str, attachment_id: str) -> Attachment:
    """The attachment of a case the user sees; every other combination is "no such"."""
    case = visible_case(session, ctx.user, case_id)
    try:
        key = uuid.UUID(attachment_id)
    except ValueError as error:
        raise NotFoundError(N_("no such attachment")) from error
    row = session.get(Attachment, key)
    if row is None or row.case_id != case.id:
        raise NotFoundError(N_("no such attachment"))
    return row


def document(
    ctx: Context, settings: Settings, case_id: str, attachment_id: str
) -> tuple[Attachment, Path]:
    """A document attachment and its stored file, for download; audited whatever the outcome."""
    try:
        with ctx.db.read() as session:
            row = _find(session, ctx, case_id, attachment_id)
        if row.kind != AttachmentKind.document or row.storage_path is None:
            raise NotFoundError(N_("an image attachment opens in the viewer, as a slide"))
    except NotFoundError:
        audit.record(
            ctx.db, ctx.actor, "attachment.download", Outcome.not_found,
            object_type="attachment", object_id=attachment_id[:64],
        )  # fmt: skip
        raise
    audit.record(
        ctx.db, ctx.actor, "attachment.download", Outcome.success, object_type="attachment",
        object_id=row.id, site_id=row.site_id, detail=f"case {row.case_id}",
    )  # fmt: skip
    return row, slide_file(settings, row.storage_path)


#: Until a report is signed an attachment can be taken back (a photograph of the wrong
#: patient); after, it is part of what the case was reported on.
REMOVABLE = frozenset(
    {CaseStatus.requested, CaseStatus.slides_uploading, CaseStatus.ready, CaseStatus.in_review}
)


def remove(
    ctx: Context, settings: Settings, case_id: str, attachment_id: str
) -> SlideRecord | None:
    """Take an attachment off its case: the row, and what is stored for it alone (an
    image's slide with its annotations, a document's file). Audited whatever the outcome;
    the removed image's slide is returned, for the caller to drop its open tiles."""
    try:
        check_may_attach(ctx.user)
        with ctx.db.write() as session:
            row = _find(session, ctx, case_id, attachment_id)
            case = session.get(Case, row.case_id)
            assert case is not None
            if case.status not in REMOVABLE:
                raise ConflictError(
                    N_("the case is reported or cancelled: its attachments stay in its record")
                )
            session.delete(row)
            session.add(
                CaseEvent(
                    case_id=case.id, site_id=case.site_id, kind=REMOVED_EVENT,
                    status=case.status, username=ctx.user.username, detail=row.name[:500],
                )
            )  # fmt: skip
            session.flush()
            slide = _alone(session, row)
            shared_file = row.storage_path is not None and _file_shared(session, row.storage_path)
    except SlideBridgeError as error:
        audit.record(
            ctx.db, ctx.actor, "attachment.delete", case_service.outcome_of(error),
            object_type="attachment", object_id=attachment_id[:64], detail=error.reason,
        )  # fmt: skip
        raise
    if slide is not None:
        slide_service.delete(ctx.db, settings, slide)
    if row.storage_path is not None and not shared_file:
        slide_file(settings, row.storage_path).unlink(missing_ok=True)
    audit.record(
        ctx.db, ctx.actor, "attachment.delete", Outcome.success, object_type="attachment",
        object_id=row.id, site_id=row.site_id, detail=f"case {row.case_id}: {row.name}",
    )  # fmt: skip
    case_service.publish(ctx.db, ctx.hub, row.case_id, None)
    return slide


def _alone(session: Session, row: Attachment) -> SlideRecord | None:
    """The image's slide if nothing else uses it (another attachment, a case, teaching)."""
    if row.slide_id is None:
        return None
    for model in (Attachment, CaseSlide, TeachingCopy):
        if session.exec(select(model).where(model.slide_id == row.slide_id)).first():
            return None
    return session.get(SlideRecord, row.slide_id)


def _file_shared(session: Session, storage_path: str) -> bool:
    same = (col(Attachment.storage_path) == storage_path,)
    return session.exec(select(Attachment).where(*same)).first() is not None
