"""A user's calibration of a picture: µm per pixel set on a slide whose file states none.

A phone photograph or a camera capture arrives uncalibrated; the site reads a stage
micrometer and sets the pixel size, after which the viewer's scale bar and every
measurement use it (the annotations' stored lengths and areas are measured again in
the same transaction). A file's own calibration is the scanner's and is never overridden. Every
attempt is audited (`slide.calibrate`), refusals included.
"""

from __future__ import annotations

from app.core import audit
from app.core.access import check_may_calibrate, visible_slide
from app.core.errors import ConflictError, PermissionDeniedError
from app.core.i18n import N_
from app.models.audit import Outcome
from app.models.slides import Calibration, CalibrationUpdate, SlidePublic, SlideRecord
from app.models.types import utcnow
from app.services.annotations import restamp_all
from app.services.context import Context
from app.services.slides import site_codes, to_public
from tiler.errors import NotFoundError

ACTION = "slide.calibrate"


def _um(mpp: float | None) -> str:
    return "none" if mpp is None else f"{mpp:.6g}"


def calibrate(ctx: Context, slide_id: str, update: CalibrationUpdate) -> SlidePublic:
    """Set a picture's µm per pixel; 409 if its file states one, 403 for other roles."""
    mpp_x, mpp_y = update.mpp_x, update.mpp_y or update.mpp_x
    wanted = f"{_um(mpp_x)} x {_um(mpp_y)} µm/pixel"
    with ctx.db.read() as session:
        try:
            slide = visible_slide(session, ctx.user, slide_id)
        except NotFoundError:
            audit.record(
                ctx.db, ctx.actor, ACTION, Outcome.not_found,
                object_type="slide", object_id=slide_id[:64], detail=wanted,
            )  # fmt: skip
            raise
    try:
        check_may_calibrate(ctx.user)
        if slide.calibration == Calibration.file:
            raise ConflictError(N_("the slide's file states its calibration; it is not changed"))
    except (PermissionDeniedError, ConflictError) as refusal:
        audit.record(
            ctx.db, ctx.actor, ACTION, Outcome.denied,
            object_type="slide", object_id=slide.id, site_id=slide.site_id,
            detail=f"{wanted}: {refusal.reason}",
        )  # fmt: skip
        raise
    was = f"{_um(slide.mpp_x)} x {_um(slide.mpp_y)}"
    with ctx.db.write() as session:
        row = session.get(SlideRecord, slide.id)
        if row is None or row.calibration == Calibration.file:
            raise ConflictError(N_("the slide changed meanwhile"))
        row.mpp_x, row.mpp_y, row.calibration = mpp_x, mpp_y, Calibration.user
        row.updated_at = utcnow()
        session.add(row)
        measured = restamp_all(session, row)
    audit.record(
        ctx.db, ctx.actor, ACTION, Outcome.success,
        object_type="slide", object_id=slide.id, site_id=slide.site_id,
        detail=f"{wanted} (was {was}; {measured} annotations measured again)",
    )  # fmt: skip
    with ctx.db.read() as session:
        row = session.get(SlideRecord, slide.id)
        assert row is not None
        site = row.site_id  # None for a teaching copy
        return to_public(row, site_codes(session, {site})[site] if site else None)
