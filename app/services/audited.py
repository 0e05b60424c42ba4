"""Looking up a site's slide or case for a request and recording the access, in one step.

Every read or change of patient data starts here, so the audit event is written
whatever the outcome: success, or not found (which includes another site's object,
indistinguishable to the caller by design).
"""

from __future__ import annotations

import uuid

from sqlmodel import Session

from app.core import audit
from app.core.access import Noun, SiteOwned, visible
from app.models.audit import Outcome
from app.models.cases import Case
from app.models.slides import SlideRecord
from app.services.context import Context
from tiler.errors import NotFoundError

_NOUNS: dict[type, Noun] = {SlideRecord: "slide", Case: "case"}


def visible_audited(
    session: Session,
    ctx: Context,
    model: type[SiteOwned],
    object_id: uuid.UUID | str,
    action: str,
    *,
    detail: str | None = None,
    outcome: Outcome = Outcome.success,
) -> SiteOwned:
    """The row if the user may see it, audited; `outcome` records a found row the caller
    will refuse (e.g. a label image an admin may not see)."""
    noun = _NOUNS[model]
    try:
        row = visible(session, ctx.user, model, object_id, noun)
    except NotFoundError:
        audit.record(
            ctx.db, ctx.actor, action, Outcome.not_found,
            object_type=noun, object_id=str(object_id)[:64], detail=detail,
        )  # fmt: skip
        raise
    audit.record(
        ctx.db, ctx.actor, action, outcome,
        object_type=noun, object_id=row.id, site_id=row.site_id, detail=detail,
    )  # fmt: skip
    return row


def visible_slide_audited(
    session: Session,
    ctx: Context,
    slide_id: uuid.UUID | str,
    action: str,
    *,
    detail: str | None = None,
    outcome: Outcome = Outcome.success,
) -> SlideRecord:
    return visible_audited(
        session, ctx, SlideRecord, slide_id, action, detail=detail, outcome=outcome
    )


def visible_case_audited(
    session: Session, ctx: Context, case_id: uuid.UUID | str, action: str
) -> Case:
    return visible_audited(session, ctx, Case, case_id, action)
