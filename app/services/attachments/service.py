"""Attachments as the API sees them: a case's list, and a document's bytes; audited.

The case decides access (its site's rules, as for its slides): another site's case,
and so its attachments, does not exist for the caller. An image attachment is opened
in the viewer as the slide it is stored as; only documents have a file route.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from sqlmodel import Session, col, select

from app.core import audit
from app.core.access import visible_case
from app.core.config import Settings
from app.core.i18n import N_
from app.core.storage import slide_file
from app.models.attachments import Attachment, AttachmentKind, AttachmentList, AttachmentPublic
from app.models.audit import Outcome
from app.services.audited import visible_case_audited
from app.services.context import Context
from tiler import NotFoundError


def href(attachment: Attachment) -> str:
    if attachment.kind == AttachmentKind.image:
        return f"/slides/{attachment.slide_id}"
    return f"/api/cases/{attachment.case_id}/attachments/{attachment.id}/file"


def to_public(attachment: Attachment) -> AttachmentPublic:
    return AttachmentPublic.model_validate(attachment, update={"href": href(attachment)})


def of_cases(session: Session, case_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Attachment]]:
    """Each case's attachments, oldest first (one query for a page of cases)."""
    grouped: dict[uuid.UUID, list[Attachment]] = defaultdict(list)
    rows = session.exec(
        select(Attachment)
        .where(col(Attachment.case_id).in_(case_ids))
        .order_by(col(Attachment.added_at), col(Attachment.id))
    ).all()
    for row in rows:
        grouped[row.case_id].append(row)
    return grouped


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
