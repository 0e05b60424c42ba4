"""Progressive transfers as the service sees them: create, receive a range, state, complete.

The slide exists from the first request: `create` makes its record (status
`arriving`, its storage path the transfer's part file) and links it to its case, so
the worklist shows it and the viewer opens it while its bytes cross the link. Each
range is checked (inside the declared size, no overlap with received bytes, its
digest), written and fsynced at its offset, then recorded. When the last byte is in,
the whole file's SHA-256 is checked against the declared one, the file moves into
the content-addressed store and becomes an ordinary slide with a pyramid job.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.core import audit, metrics
from app.core.access import check_may_add_slides, site_filter, target_site, visible_case
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import ConflictError, PayloadTooLargeError, UnprocessableError
from app.core.i18n import N_
from app.core.storage import PYRAMID_OPTIONS, content_path, file_sha256, slide_file
from app.models.accounts import Site, User
from app.models.audit import Outcome
from app.models.jobs import URGENT_PRIORITY, Job
from app.models.slides import SlideRecord, SlideStatus
from app.models.transfers import (
    ArrivalMap,
    Transfer,
    TransferCreate,
    TransferPublic,
    TransferRange,
    TransferStatus,
)
from app.models.types import utcnow
from app.models.uploads import Upload, UploadStatus
from app.services import slide_events
from app.services import slides as slide_service
from app.services.cases import service as case_service
from app.services.context import Context
from app.services.staging import display_name, safe_suffix
from app.services.transfers import store
from app.services.transfers.hub import Hub
from app.services.transfers.protocol import DigestMismatchError, TransferGoneError
from tiler import Slide, SlideError, open_slide
from tiler.errors import NotArrivedError, NotFoundError, RangeOutsideFileError, RangeOverlapError
from tiler.level_pixels import SlidePixels

log = logging.getLogger(__name__)


# --- creating ------------------------------------------------------------------------


def _reserved(session: Session, site_id: uuid.UUID) -> int:
    """Bytes promised to unfinished uploads and transfers of the site (quota)."""
    now = utcnow()
    uploads = session.exec(
        select(func.coalesce(func.sum(Upload.length), 0)).where(
            Upload.site_id == site_id,
            Upload.status == UploadStatus.receiving,
            col(Upload.expires_at) > now,
        )
    ).one()
    transfers = session.exec(
        select(func.coalesce(func.sum(Transfer.size), 0)).where(
            Transfer.site_id == site_id,
            Transfer.status == TransferStatus.receiving,
            col(Transfer.expires_at) > now,
        )
    ).one()
    return int(uploads) + int(transfers)


def _case_of(session: Session, user: User, site: Site, case_id: uuid.UUID | None) -> uuid.UUID:
    try:
        case = visible_case(session, user, case_id) if case_id else None
    except NotFoundError:
        case = None
    if case is None or case.site_id != site.id:
        raise UnprocessableError(N_("no such case at the transfer's site"))
    return case.id


def create(ctx: Context, settings: Settings, data: TransferCreate) -> tuple[Transfer, bool]:
    """A transfer and its arriving slide, or the one already receiving this file for this
    site (an agent that restarted resumes it): (transfer, created). Audited."""
    try:
        transfer, created = _create(ctx, settings, data)
    except Exception as error:
        reason = getattr(error, "reason", type(error).__name__)
        audit.record(ctx.db, ctx.actor, "transfer.create", Outcome.denied, detail=reason)
        raise
    action = "transfer.create" if created else "transfer.resume"
    audit.record(
        ctx.db, ctx.actor, action, Outcome.success, object_type="slide",
        object_id=transfer.slide_id, site_id=transfer.site_id, detail=transfer.filename,
    )  # fmt: skip
    return transfer, created


def _create(ctx: Context, settings: Settings, data: TransferCreate) -> tuple[Transfer, bool]:
    if data.size > settings.max_upload_bytes:
        raise PayloadTooLargeError(
            N_("file is larger than {max_bytes} bytes", max_bytes=settings.max_upload_bytes)
        )
    check_may_add_slides(ctx.user)
    name = display_name(data.filename)
    with ctx.db.write() as session:
        site = target_site(session, ctx.user, data.site, "the field 'site'")
        case_id = _case_of(session, ctx.user, site, data.case) if data.case else None
        existing = session.exec(
            select(SlideRecord).where(
                SlideRecord.site_id == site.id, SlideRecord.sha256 == data.sha256
            )
        ).first()
        if existing is not None and existing.status != SlideStatus.failed:
            return _existing(session, existing, data), False
        reserved = _reserved(session, site.id)
        slide_service.check_quota(session, settings, site, reserved + data.size)
        transfer = Transfer(
            slide_id=uuid.uuid4(),
            site_id=site.id,
            user_id=ctx.user.id,
            case_id=case_id,
            filename=name,
            suffix=safe_suffix(name),
            size=data.size,
            sha256=data.sha256,
            expires_at=utcnow() + timedelta(hours=settings.upload_expire_hours),
        )
        slide = existing or SlideRecord(
            site_id=site.id, sha256=data.sha256, name=name, vendor="", width=0, height=0,
            storage_path="", size_bytes=data.size,
        )  # fmt: skip
        slide.status, slide.error, slide.progress = SlideStatus.arriving, None, 0.0
        slide.storage_path = store.relative_part_path(transfer.id)
        slide.updated_at = utcnow()
        session.add(slide)
        session.flush()
        transfer.slide_id = slide.id
        session.add(transfer)
        store.create_part(store.part_path(settings.data_dir, transfer.id), data.size)
        try:
            session.flush()
        except IntegrityError:
            store.remove_part(store.part_path(settings.data_dir, transfer.id))
            raise ConflictError(N_("this file is being registered by another request")) from None
        if case_id is not None:
            case = visible_case(session, ctx.user, case_id)
            case_service.link_slide(session, case, slide, ctx.user.username)
    if case_id is not None:
        case_service.advance(ctx.db, ctx.hub, case_id)
    return transfer, True


def _existing(session: Session, slide: SlideRecord, data: TransferCreate) -> Transfer:
    """The file is at the hub already, or on its way: its receiving transfer, or a
    completed one that says so (the agent has nothing to send)."""
    if slide.status == SlideStatus.arriving:
        transfer = session.exec(
            select(Transfer).where(
                Transfer.slide_id == slide.id, Transfer.status == TransferStatus.receiving
            )
        ).first()
        if transfer is not None:
            if transfer.size != data.size:
                raise ConflictError(N_("a transfer of this SHA-256 declared another size"))
            return transfer
    now = utcnow()
    assert slide.site_id is not None  # found by its site above: not a teaching copy
    done = Transfer(
        slide_id=slide.id, site_id=slide.site_id, filename=slide.name, size=slide.size_bytes,
        sha256=slide.sha256, received_bytes=slide.size_bytes, status=TransferStatus.completed,
        expires_at=now, completed_at=now,
    )  # fmt: skip
    session.add(done)
    session.flush()
    return done


# --- finding -------------------------------------------------------------------------


def find(db: Database, user: User, transfer_id: str) -> Transfer:
    """The transfer if the user may see its site; another site's does not exist."""
    try:
        key = uuid.UUID(transfer_id)
    except ValueError as error:
        raise NotFoundError(N_("no such transfer")) from error
    with db.read() as session:
        row = session.exec(
            select(Transfer).where(Transfer.id == key, site_filter(user, Transfer.site_id))
        ).first()
    if row is None:
        raise NotFoundError(N_("no such transfer"))
    return row


def public(db: Database, hub: Hub, transfer: Transfer, *, with_ranges: bool) -> TransferPublic:
    with db.read() as session:
        code = slide_service.site_codes(session, {transfer.site_id})[transfer.site_id]
    receiving = transfer.status == TransferStatus.receiving
    received = hub.arrivals.received(transfer) if receiving else None
    wanted = hub.demand.wanted(transfer.id, received.covers) if received is not None else []
    return TransferPublic(
        id=transfer.id,
        slide_id=transfer.slide_id,
        site=code,
        case_id=transfer.case_id,
        filename=transfer.filename,
        size=transfer.size,
        sha256=transfer.sha256,
        status=transfer.status,
        error=transfer.error,
        received_bytes=transfer.received_bytes,
        received=transfer.received_bytes / transfer.size if transfer.size else 1.0,
        overview_at=transfer.overview_at,
        created_at=transfer.created_at,
        expires_at=transfer.expires_at,
        completed_at=transfer.completed_at,
        wanted=wanted,
        ranges=[(a, b) for a, b in received.to_pairs()] if received and with_ranges else [],
    )


def read(ctx: Context, hub: Hub, transfer_id: str) -> TransferPublic:
    """The transfer's state with every received interval (for a resuming agent); audited."""
    try:
        transfer = find(ctx.db, ctx.user, transfer_id)
    except NotFoundError:
        audit.record(ctx.db, ctx.actor, "transfer.read", Outcome.not_found,
                     object_type="transfer", object_id=transfer_id[:64])  # fmt: skip
        raise
    audit.record(ctx.db, ctx.actor, "transfer.read", Outcome.success, object_type="transfer",
                 object_id=transfer.id, site_id=transfer.site_id)  # fmt: skip
    return public(ctx.db, hub, transfer, with_ranges=True)


# --- receiving -----------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    transfer: Transfer
    #: False when these exact bytes had arrived before (a resend after a lost answer).
    new: bool


def check_range(
    db: Database, hub: Hub, transfer: Transfer, start: int, length: int, *, max_age: float = 0.5
) -> bool:
    """Refuse what can be refused before anything is written. True when the range is
    wholly received already (its body is then only compared with the stored bytes)."""
    if transfer.status != TransferStatus.receiving:
        raise TransferGoneError(
            transfer.error or N_("the transfer is {status}", status=transfer.status)
        )
    end = start + length
    if end > transfer.size:
        raise RangeOutsideFileError(
            N_(
                "bytes {start}-{end} fall outside the declared size {size}",
                start=start,
                end=end,
                size=transfer.size,
            ),
            start=start,
            end=end,
        )
    received = hub.arrivals.received(transfer, max_age=max_age)
    if received.covers(start, end):
        return True
    if received.missing(start, end) != [(start, end)]:
        raise RangeOverlapError(
            N_("bytes {start}-{end} overlap bytes already received", start=start, end=end),
            start=start,
            end=end,
        )
    return False


def receive(
    ctx: Context,
    settings: Settings,
    hub: Hub,
    transfer: Transfer,
    start: int,
    body: bytes,
    digest: str,
) -> Received:
    """Write one range whose body has been read: checked, written, fsynced, recorded."""
    db = ctx.db
    if hashlib.sha256(body).hexdigest() != digest:
        raise DigestMismatchError(N_("the range's bytes do not match their Content-Digest"))
    end = start + len(body)
    path = store.part_path(settings.data_dir, transfer.id)
    with store.locked(path) as fd:
        current = _fresh(db, transfer.id)
        if check_range(db, hub, current, start, len(body), max_age=0):
            if store.digest_at(path, start, end) != digest:
                raise RangeOverlapError(
                    N_("bytes {start}-{end} differ from those received", start=start, end=end),
                    start=start,
                    end=end,
                )
            return Received(current, new=False)
        store.write_at(fd, start, body)
        with db.write() as session:
            session.add(TransferRange(transfer_id=transfer.id, start=start, end=end, sha256=digest))
            session.execute(
                update(Transfer)
                .where(col(Transfer.id) == transfer.id)
                .values(
                    received_bytes=col(Transfer.received_bytes) + len(body),
                    expires_at=utcnow() + timedelta(hours=settings.upload_expire_hours),
                )
            )
    metrics.UPLOAD_BYTES.labels("progressive").inc(len(body))
    hub.arrivals.arrived(transfer, start, end)
    _describe_once_readable(ctx, settings, hub, transfer)
    current = _fresh(db, transfer.id)
    announce(ctx, hub, current, [(start, end)])
    return Received(current, new=True)


def announce(ctx: Context, hub: Hub, transfer: Transfer, spans: list[tuple[int, int]]) -> None:
    """Tell the slide's viewers what changed (they reload those tiles), and note when the
    overview became final (the case can then be claimed)."""
    event: dict[str, Any] = {
        "status": "arriving",
        "received": transfer.received_bytes / transfer.size,
        "areas": [],
        "overview": transfer.overview_at is not None,
    }
    try:
        tiles = hub.arrivals.tiles(transfer, PYRAMID_OPTIONS)
        event["areas"] = [area.to_json() for area in tiles.affected(spans)]
        overview = tiles.overview_final()
    except (NotArrivedError, SlideError):
        overview = False  # no structure yet, or levels that wait for the whole file
    if overview and transfer.overview_at is None:
        with ctx.db.write() as session:
            session.execute(
                update(Transfer)
                .where(col(Transfer.id) == transfer.id, col(Transfer.overview_at).is_(None))
                .values(overview_at=utcnow())
            )
        event["overview"] = True
    slide_events.publish(ctx.db, ctx.hub, transfer.slide_id, "arrival", event)
    arrived = sum(end - start for start, end in spans)
    if _percent(transfer.received_bytes - arrived, transfer.size) != _percent(
        transfer.received_bytes, transfer.size
    ):
        _case_changed(ctx, transfer)


def _percent(received: int, size: int) -> int:
    return received * 100 // size if size else 100


def _case_changed(ctx: Context, transfer: Transfer) -> None:
    """The case's screens show "arriving 37 %": a new snapshot on each whole percent and
    when the transfer ends (no case event: nothing happened to the case itself)."""
    if transfer.case_id is not None:
        case_service.publish(ctx.db, ctx.hub, transfer.case_id, None)


def _describe_once_readable(ctx: Context, settings: Settings, hub: Hub, transfer: Transfer) -> None:
    """Once the structure every reader needs is in, the slide record gets what the
    engine reads from it (size, levels, resolution); a structure the engine refuses
    ends the transfer at once, with the reason, rather than after the last byte. So
    does a level's tile table, which may arrive later, as soon as it is in."""
    db = ctx.db
    partial = hub.arrivals.partial(transfer)
    try:
        if not partial.ready:
            return
        info = partial.info
        partial.check_tables()
    except SlideError as error:
        _refuse(ctx, settings, hub, transfer, error.reason)
        raise
    with db.read() as session:
        slide = session.get(SlideRecord, transfer.slide_id)
    if slide is None or slide.width:
        return
    with db.write() as session:
        row = session.get(SlideRecord, transfer.slide_id)
        if row is not None and not row.width:
            slide_service.describe(row, info)
            row.updated_at = utcnow()
            session.add(row)


def _refuse(ctx: Context, settings: Settings, hub: Hub, transfer: Transfer, reason: str) -> None:
    """The file is not a slide we read: the transfer fails, its bytes go."""
    _fail(ctx, transfer, reason)
    hub.arrivals.forget(transfer.slide_id)
    store.remove_part(store.part_path(settings.data_dir, transfer.id))


def _fresh(db: Database, transfer_id: uuid.UUID) -> Transfer:
    with db.read() as session:
        row = session.get(Transfer, transfer_id, populate_existing=True)
    if row is None:
        raise NotFoundError(N_("no such transfer"))
    return row


# --- completing ----------------------------------------------------------------------


@dataclass(frozen=True)
class Completed:
    transfer: Transfer
    #: The pyramid job queued for the finished slide (None: it was finished before).
    job_id: uuid.UUID | None
    priority: int


def complete(ctx: Context, settings: Settings, hub: Hub, transfer: Transfer) -> Completed:
    """Every byte is in: verify the whole file, then register it as an ordinary slide.

    A wrong SHA-256 fails the slide with the reason (the agent is told to resend: a new
    transfer of the same file resets the slide); the engine's refusal fails it too."""
    path = store.part_path(settings.data_dir, transfer.id)
    with store.locked(path):
        transfer = _fresh(ctx.db, transfer.id)
        if transfer.status != TransferStatus.receiving:
            return Completed(transfer, None, 0)
        if transfer.received_bytes != transfer.size:
            raise ConflictError(N_("bytes are still missing"))
        try:
            digest = file_sha256(path)
            if digest != transfer.sha256:
                raise UnprocessableError(
                    N_(
                        "the whole file's SHA-256 differs from the one declared at the start: "
                        "send it again"
                    )
                )
            with open_slide(path) as opened:
                info = opened.info
                same = _same_tiles(hub, transfer, opened)
        except (SlideError, UnprocessableError) as error:
            _fail(ctx, transfer, error.reason)
            hub.arrivals.forget(transfer.slide_id)
            raise
        relative = content_path(digest, transfer.suffix)
        target = slide_file(settings, relative.as_posix())
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            store.remove_part(path)
        else:
            os.replace(path, target)
        now = utcnow()
        priority = URGENT_PRIORITY if transfer.case_id else 0
        with ctx.db.write() as session:
            slide = session.get(SlideRecord, transfer.slide_id)
            assert slide is not None
            slide_service.describe(slide, info)
            slide.storage_path = relative.as_posix()
            slide.status, slide.progress, slide.updated_at = SlideStatus.queued, 0.0, now
            session.add(slide)
            job = Job(slide_id=slide.id, priority=priority)
            session.add(job)
            session.execute(
                update(Transfer)
                .where(col(Transfer.id) == transfer.id)
                .values(status=TransferStatus.completed, completed_at=now)
            )
    hub.arrivals.forget(transfer.slide_id)
    hub.demand.forget(transfer.id)
    # Tiles called final were the finished slide's, unless a level failed OpenSlide's
    # check at the end: then every tile a viewer holds is reloaded.
    whole = {"z_low": 0, "x": 0, "y": 0, "width": info.width, "height": info.height}
    slide_events.publish(
        ctx.db, ctx.hub, transfer.slide_id, "arrival",
        {"status": SlideStatus.queued, "received": 1.0, "areas": [] if same else [whole],
         "overview": True},
    )  # fmt: skip
    _case_changed(ctx, transfer)
    audit.record(
        ctx.db, ctx.actor, "transfer.complete", Outcome.success, object_type="slide",
        object_id=transfer.slide_id, site_id=transfer.site_id, detail=transfer.filename,
    )  # fmt: skip
    return Completed(_fresh(ctx.db, transfer.id), job.id, priority)


def _same_tiles(hub: Hub, transfer: Transfer, finished: Slide) -> bool:
    """Whether the finished slide makes every tile as the arriving one did (the same
    levels, decoded the same way): the final tiles served while it arrived stay final."""
    try:
        arriving = hub.arrivals.tiles(transfer, PYRAMID_OPTIONS)
    except (NotArrivedError, SlideError):
        return True  # nothing was served from what arrived
    return arriving.same_tiles_as(SlidePixels(finished))


def _fail(ctx: Context, transfer: Transfer, reason: str) -> None:
    _fail_rows(ctx.db, transfer, reason)
    slide_events.publish(
        ctx.db,
        ctx.hub,
        transfer.slide_id,
        "arrival",
        {"status": SlideStatus.failed, "error": reason},
    )
    _case_changed(ctx, transfer)
    audit.record(
        ctx.db, ctx.actor, "transfer.reject", Outcome.failure, object_type="slide",
        object_id=transfer.slide_id, site_id=transfer.site_id, detail=reason,
    )  # fmt: skip


def _fail_rows(db: Database, transfer: Transfer, reason: str) -> None:
    with db.write() as session:
        session.execute(
            update(Transfer)
            .where(col(Transfer.id) == transfer.id)
            .values(status=TransferStatus.failed, error=reason[:1000])
        )
        session.execute(
            update(SlideRecord)
            .where(col(SlideRecord.id) == transfer.slide_id)
            .values(status=SlideStatus.failed, error=reason[:1000], updated_at=utcnow())
        )


# --- what the viewer shows of an arriving slide ----------------------------------------


def arrival_map(ctx: Context, hub: Hub, slide: SlideRecord) -> ArrivalMap:
    transfer = hub.arrivals.transfer_of(slide.id) if slide.status == SlideStatus.arriving else None
    if transfer is None:
        return ArrivalMap(status=slide.status, received=1.0, overview=True)
    received = hub.arrivals.received(transfer)
    answer = ArrivalMap(
        status=slide.status, received=received.received_bytes / transfer.size, overview=False
    )
    partial = hub.arrivals.partial(transfer)
    try:
        grid = partial.tile_grid(0)
        flags = partial.arrived_tiles(0)
        answer.overview = hub.arrivals.tiles(transfer, PYRAMID_OPTIONS).overview_final()
    except (NotArrivedError, SlideError):
        return answer  # no structure yet
    answer.cols, answer.rows = grid.cols, grid.rows
    answer.tile_width, answer.tile_height = grid.tile_width, grid.tile_height
    answer.arrived = base64.b64encode(np.packbits(flags, axis=None).tobytes()).decode()
    return answer
