"""Looking up a slide for a request and writing the audit event for it, in one step.

Routes that read or change patient data get their slide through `open_slide_audited`,
so the event is written whatever the outcome: success, or not found (which
includes another site's slide, indistinguishable to the caller by design).
"""

from __future__ import annotations

import uuid

from sqlmodel import Session

from app.core import audit
from app.core.access import visible_slide
from app.core.audit import Actor
from app.core.db import Database
from app.models import Outcome, Slide, User
from tiler import NotFoundError


def open_slide_audited(
    session: Session,
    db: Database,
    user: User,
    actor: Actor,
    slide_id: uuid.UUID | str,
    action: str,
    *,
    detail: str | None = None,
    outcome: Outcome = Outcome.success,
) -> Slide:
    """The visible slide, audited; `outcome` records a found slide the caller will refuse."""
    try:
        slide = visible_slide(session, user, slide_id)
    except NotFoundError:
        audit.record(
            db,
            actor,
            action,
            Outcome.not_found,
            object_type="slide",
            object_id=str(slide_id)[:64],
            detail=detail,
        )
        raise
    audit.record(
        db,
        actor,
        action,
        outcome,
        object_type="slide",
        object_id=slide.id,
        site_id=slide.site_id,
        detail=detail,
    )
    return slide
