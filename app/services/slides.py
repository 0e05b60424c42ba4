"""Slides: register, look up (audited), describe and delete; shared by the API and the CLI.

Where the files live is `app.core.storage`'s contract. A picture only libvips reads
(a phone photograph, a camera capture, a stripped TIFF) is stored as the tiled
pyramidal TIFF the engine writes from it once on registration (`PYRAMID_SUFFIX`):
its record keeps the copy's SHA-256 and the received file's (`received_sha256`, by
which a second upload of the picture is found) and reader name; every tile is read
from the tiled copy, never by decoding the whole picture again. A slide of several
files is staged as a folder (`app.services.slide_sets`) and registered the same way.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.core import audit
from app.core.access import check_may_add_slides, scope_slides, target_site
from app.core.audit import Actor
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import PayloadTooLargeError, PermissionDeniedError, UnprocessableError
from app.core.i18n import N_
from app.core.storage import content_path, file_sha256, pyramid_path, slide_file
from app.models.accounts import Site
from app.models.attachments import Attachment, AttachmentKind
from app.models.audit import Outcome
from app.models.jobs import URGENT_PRIORITY, Job
from app.models.slides import (
    Calibration,
    LevelPublic,
    SlideList,
    SlidePublic,
    SlideRecord,
    SlideStatus,
)
from app.models.transfers import Transfer, TransferStatus
from app.services.audited import visible_slide_audited
from app.services.context import Context
from app.services.staging import StagedFile, move_into_place, safe_suffix
from tiler import SlideError, SlideInfo, open_slide
from tiler.reasons import replaced
from tiler.registry import write_tiled_copy

log = logging.getLogger(__name__)

#: The suffix of a stored tiled copy of a picture, after the received file's SHA-256.
PYRAMID_SUFFIX = ".pyramid.tiff"


@dataclass(frozen=True)
class Registered:
    slide: SlideRecord
    created: bool
    job_id: uuid.UUID | None
    priority: int


def record_registration(
    db: Database,
    actor: Actor,
    result: Registered,
    site_id: uuid.UUID,
    display_name: str,
    action: str = "slide.upload",
) -> None:
    """Audit a registration: `action`, or `action.duplicate` when the content was stored."""
    audit.record(
        db,
        actor,
        action if result.created else f"{action}.duplicate",
        Outcome.success,
        object_type="slide",
        object_id=result.slide.id,
        site_id=site_id,
        detail=display_name,
    )


def probe(path: Path) -> SlideInfo:
    """Open the file with the slide engine; raises a SlideError (a 422) if it is not a slide."""
    with open_slide(path) as slide:
        return slide.info


def check_quota(session: Session, settings: Settings, site: Site, size: int) -> None:
    """The site's slides and its cases' documents (an image attachment is a slide) leave
    room for `size` more bytes."""
    if settings.site_quota_bytes is None:
        return
    used = 0
    for column, site_column, *only in (
        (SlideRecord.size_bytes, SlideRecord.site_id),
        (Attachment.size_bytes, Attachment.site_id, Attachment.kind == AttachmentKind.document),
    ):
        query = select(func.coalesce(func.sum(column), 0)).where(site_column == site.id, *only)
        used += int(session.exec(query).one())
    if used + size > settings.site_quota_bytes:
        raise PayloadTooLargeError(N_("site {code} is over its storage quota", code=site.code))


def register(
    db: Database, settings: Settings, staged: StagedFile, site: Site, *, urgent: bool = False
) -> Registered:
    """Probe, store and record a staged file as a slide with a queued pyramid job.

    The staged file is consumed: moved into the store, or deleted on any failure,
    so a refused upload leaves nothing behind.
    """
    try:
        with their_name_in_errors(staged):
            info = probe(staged.path)
        with db.read() as session:
            existing = _existing(session, site.id, staged.sha256)
            if existing is not None:
                staged.discard()
                return Registered(existing, False, None, 0)
            check_quota(session, settings, site, staged.size)
        with their_name_in_errors(staged):
            stored = _tiled_copy(settings, staged, info)
        received = staged.sha256 if stored is not None else None
        if stored is not None:
            staged.discard()
            staged, info = stored
        suffix = PYRAMID_SUFFIX if stored is not None else safe_suffix(staged.path.name)
        relative = content_path(staged.sha256, suffix)
        move_into_place(staged, settings.data_dir / relative)
    except BaseException:
        staged.discard()
        raise
    slide = SlideRecord(
        site_id=site.id,
        name=staged.display_name,
        sha256=staged.sha256,
        storage_path=relative.as_posix(),
        size_bytes=staged.size,
        received_sha256=received,
        vendor="",
        width=0,
        height=0,
    )
    describe(slide, info)
    priority = URGENT_PRIORITY if urgent else 0
    try:
        with db.write() as session:
            session.add(slide)
            session.flush()
            job = Job(slide_id=slide.id, priority=priority)
            session.add(job)
    except IntegrityError:
        # The same content was registered for this site concurrently: answer with that one.
        with db.read() as session:
            winner = _existing(session, site.id, received or staged.sha256)
        if winner is None:
            raise
        return Registered(winner, False, None, 0)
    return Registered(slide, True, job.id, priority)


@contextmanager
def their_name_in_errors(staged: StagedFile) -> Iterator[None]:
    """The engine names the file it read: that is our random staging name, not theirs."""
    try:
        yield
    except SlideError as error:
        error.reason = replaced(error.reason, staged.path.name, staged.display_name)
        error.args = (error.reason,)
        raise


def _tiled_copy(
    settings: Settings, staged: StagedFile, info: SlideInfo
) -> tuple[StagedFile, SlideInfo] | None:
    """The tiled pyramid to store instead of a picture, as a staged file (the received
    file's name, the copy's SHA-256), and its metadata (levels as the engine will read
    them; the reader and calibration of the received file). None for a slide."""
    target = settings.staging_dir / f"{uuid.uuid4().hex}{PYRAMID_SUFFIX}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if not write_tiled_copy(staged.path, target):
            return None
        stored = probe(target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    copy = StagedFile(target, file_sha256(target), target.stat().st_size, staged.display_name)
    return copy, replace(stored, vendor=info.vendor, mpp_x=info.mpp_x, mpp_y=info.mpp_y)


def describe(slide: SlideRecord, info: SlideInfo) -> None:
    """Copy what the engine read from the file into the record."""
    slide.vendor = info.vendor[:64]
    slide.width, slide.height = info.width, info.height
    slide.mpp_x, slide.mpp_y = info.mpp_x, info.mpp_y
    slide.calibration = Calibration.file if info.mpp_x and info.mpp_y else None
    slide.objective_power = info.objective_power
    slide.levels = [level.__dict__ for level in info.levels]
    slide.associated = list(info.associated)


def _existing(session: Session, site_id: uuid.UUID, sha256: str) -> SlideRecord | None:
    """The site's slide of this content: stored as it is, or received as it (a picture)."""
    same = (col(SlideRecord.sha256) == sha256) | (col(SlideRecord.received_sha256) == sha256)
    return session.exec(select(SlideRecord).where(SlideRecord.site_id == site_id, same)).first()


def received_fractions(session: Session, slides: list[SlideRecord]) -> dict[uuid.UUID, float]:
    """How much of each arriving slide's file is at the hub (the others are whole)."""
    arriving = [slide.id for slide in slides if slide.status == SlideStatus.arriving]
    if not arriving:
        return {}
    rows = session.exec(
        select(Transfer.slide_id, Transfer.received_bytes, Transfer.size)
        .where(col(Transfer.slide_id).in_(arriving))
        .where(Transfer.status == TransferStatus.receiving)
    ).all()
    return {slide_id: got / size if size else 0.0 for slide_id, got, size in rows}


def to_public(slide: SlideRecord, site_code: str | None, received: float = 1.0) -> SlidePublic:
    return SlidePublic(
        id=slide.id,
        site=site_code,
        name=slide.name,
        sha256=slide.sha256,
        status=slide.status,
        progress=slide.progress,
        error=slide.error,
        vendor=slide.vendor,
        width=slide.width,
        height=slide.height,
        mpp_x=slide.mpp_x,
        mpp_y=slide.mpp_y,
        calibration=slide.calibration,
        received_sha256=slide.received_sha256,
        objective_power=slide.objective_power,
        levels=[LevelPublic.model_validate(level) for level in slide.levels],
        associated=list(slide.associated),
        size_bytes=slide.size_bytes,
        created_at=slide.created_at,
        received=received,
    )


def site_codes(session: Session, site_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not site_ids:
        return {}
    rows = session.exec(select(Site.id, Site.code).where(col(Site.id).in_(site_ids))).all()
    return dict(rows)


def delete(db: Database, settings: Settings, slide: SlideRecord) -> None:
    """Remove the row (its jobs cascade), its pyramid, and the file if no other row uses it."""
    with db.write() as session:
        row = session.get(SlideRecord, slide.id)
        if row is None:
            return
        session.delete(row)
        session.flush()
        shared = session.exec(
            select(func.count()).where(SlideRecord.storage_path == slide.storage_path)
        ).one()
    pyramid_path(settings, slide.id).unlink(missing_ok=True)
    if shared == 0:
        stored = slide_file(settings, slide.storage_path)
        if stored.is_dir():  # a slide of several files
            shutil.rmtree(stored, ignore_errors=True)
        else:
            stored.unlink(missing_ok=True)


# --- the actions the routes call: audited -------------------------------------------


def site_for_new(ctx: Context, code: str | None, field: str, action: str = "slide.upload") -> Site:
    """The site a new slide goes to (`access.target_site`), the refusal audited."""
    try:
        with ctx.db.read() as session:
            site = target_site(session, ctx.user, code, field)
    except UnprocessableError:
        audit.record(ctx.db, ctx.actor, action, Outcome.denied, detail="no such site")
        raise
    try:
        check_may_add_slides(ctx.user)
    except PermissionDeniedError:
        audit.record(ctx.db, ctx.actor, action, Outcome.denied, site_id=site.id)
        raise
    return site


def add(
    ctx: Context, settings: Settings, staged: StagedFile, site: Site, *, urgent: bool
) -> Registered:
    """`register`, audited: a refusal with the engine's reason, else the registration."""
    try:
        result = register(ctx.db, settings, staged, site, urgent=urgent)
    except Exception as error:
        reason = getattr(error, "reason", type(error).__name__)
        audit.record(
            ctx.db, ctx.actor, "slide.upload", Outcome.failure, site_id=site.id, detail=reason
        )
        raise
    record_registration(ctx.db, ctx.actor, result, site.id, staged.display_name)
    return result


def list_visible(ctx: Context, site: str | None, offset: int, limit: int) -> SlideList:
    """The user's slides, newest first."""
    query = scope_slides(ctx.user)
    if site is not None:
        query = query.join(Site, col(Site.id) == col(SlideRecord.site_id)).where(Site.code == site)
    newest_first = (col(SlideRecord.created_at).desc(), col(SlideRecord.id))
    with ctx.db.read() as session:
        total = session.exec(select(func.count()).select_from(query.subquery())).one()
        rows = list(session.exec(query.order_by(*newest_first).offset(offset).limit(limit)))
        codes = site_codes(session, {slide.site_id for slide in rows if slide.site_id})
        received = received_fractions(session, rows)
    detail = f"{len(rows)} of {total}" + (f" at {site}" if site else "")
    audit.record(
        ctx.db, ctx.actor, "slide.list", Outcome.success, object_type="slide", detail=detail
    )
    items = [to_public(s, _code(codes, s), received.get(s.id, 1.0)) for s in rows]
    return SlideList(items=items, total=total)


def read(ctx: Context, slide_id: str) -> SlidePublic:
    with ctx.db.read() as session:
        slide = visible_slide_audited(session, ctx, slide_id, "slide.metadata")
        received = received_fractions(session, [slide]).get(slide.id, 1.0)
        codes = site_codes(session, {slide.site_id} if slide.site_id else set())
        return to_public(slide, _code(codes, slide), received)


def _code(codes: dict[uuid.UUID, str], slide: SlideRecord) -> str | None:
    """The slide's site code; None for a teaching copy, which belongs to no site."""
    return codes[slide.site_id] if slide.site_id else None
