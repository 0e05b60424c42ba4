"""Attachments as the screens see them: each case's list, oldest first, with where each
opens (below the case services, which put them in a case's snapshot)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlmodel import Session, col, select

from app.models.attachments import Attachment, AttachmentKind, AttachmentPublic


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
