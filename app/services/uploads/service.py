"""Uploads as the service sees them: create, find, advance, complete, terminate.

Sync functions over `Database`, called from the routes in a worker thread.
Completion goes through the same `register()` as `POST /api/slides`, so an
upload and a form post become the same kind of slide (content-addressed,
probed, de-duplicated per site, quota-checked, pyramid queued).
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import timedelta

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from app.core import metrics
from app.core.access import check_may_add_slides, site_filter, target_site, visible_case
from app.core.audit import Actor, record
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import PayloadTooLargeError, UnprocessableError
from app.core.i18n import N_
from app.core.storage import file_sha256
from app.models.accounts import Site, User
from app.models.audit import Outcome
from app.models.types import utcnow
from app.models.uploads import Upload, UploadPublic, UploadStatus
from app.services import slides as slide_service
from app.services.context import Context
from app.services.slides import Registered
from app.services.staging import StagedFile, display_name, staging_path
from app.services.uploads.protocol import TusError, parse_sha256
from app.services.uploads.store import create_part, part_path, remove_part
from tiler import NotFoundError, SlideBridgeError


def _site_for(session: Session, user: User, code: str | None) -> Site:
    """The site an upload goes to: the named one, or the user's own.

    A site the user may not see is reported as unknown, as `POST /api/slides` does.
    """
    check_may_add_slides(user)
    return target_site(session, user, code, "the upload metadata 'site'")


def _case_for(session: Session, user: User, site: Site, value: str | None) -> uuid.UUID | None:
    """The case named in the metadata: one the user sees, of the upload's site.

    Any other value is "no such case", as everywhere else: another site's case ids
    stay unknown."""
    if value is None:
        return None
    try:
        case = visible_case(session, user, value[:64])
    except NotFoundError as error:
        raise UnprocessableError(N_("no such case at the upload's site")) from error
    if case.site_id != site.id:
        raise UnprocessableError(N_("no such case at the upload's site"))
    return case.id


def _reserved_bytes(session: Session, site_id: uuid.UUID) -> int:
    """Bytes promised to unfinished uploads of the site: they count against its quota."""
    total = session.exec(
        select(func.coalesce(func.sum(Upload.length), 0)).where(
            Upload.site_id == site_id,
            Upload.status == UploadStatus.receiving,
            col(Upload.expires_at) > utcnow(),
        )
    ).one()
    return int(total)


def create(ctx: Context, settings: Settings, metadata: dict[str, str], length: int) -> Upload:
    """A new upload with an empty part file; size, site, case and quota are checked first.
    Audited, refusals included."""
    try:
        upload = _create(ctx.db, settings, ctx.user, metadata, length)
    except SlideBridgeError as error:
        record(ctx.db, ctx.actor, "upload.create", Outcome.denied, detail=error.reason)
        raise
    record(
        ctx.db, ctx.actor, "upload.create", Outcome.success, object_type="upload",
        object_id=upload.id, site_id=upload.site_id, detail=upload.filename,
    )  # fmt: skip
    return upload


def _create(
    db: Database, settings: Settings, user: User, metadata: dict[str, str], length: int
) -> Upload:
    if length == 0:
        raise TusError(N_("an empty file is not a slide"))
    if length > settings.max_upload_bytes:
        raise PayloadTooLargeError(
            N_("file is larger than {max_bytes} bytes", max_bytes=settings.max_upload_bytes)
        )
    upload = Upload(
        filename=display_name(metadata.get("filename", "")),
        length=length,
        sha256=parse_sha256(metadata.get("sha256")),
        expires_at=utcnow() + timedelta(hours=settings.upload_expire_hours),
        site_id=uuid.uuid4(),  # set below, once the site is known
        user_id=user.id,
    )
    path = part_path(settings.data_dir, upload.id)
    with db.write() as session:
        site = _site_for(session, user, metadata.get("site"))
        upload.case_id = _case_for(session, user, site, metadata.get("case"))
        reserved = _reserved_bytes(session, site.id)
        slide_service.check_quota(session, settings, site, reserved + length)
        upload.site_id = site.id
        create_part(path)
        try:
            session.add(upload)
            session.flush()
        except BaseException:
            remove_part(path)
            raise
    return upload


def visible(session: Session, user: User, upload_id: str) -> Upload:
    """The upload if the user may see its site; another site's upload does not exist."""
    try:
        key = uuid.UUID(upload_id)
    except ValueError as error:
        raise NotFoundError(N_("no such upload")) from error
    row = session.exec(
        select(Upload).where(Upload.id == key, site_filter(user, Upload.site_id))
    ).first()
    if row is None:
        raise NotFoundError(N_("no such upload"))
    return row


def fresh(db: Database, upload_id: uuid.UUID) -> Upload:
    """The row as committed now (read after taking the part file's lock)."""
    with db.read() as session:
        row = session.get(Upload, upload_id)
    if row is None:
        raise NotFoundError(N_("no such upload"))
    return row


def site_code(session: Session, site_id: uuid.UUID) -> str:
    return slide_service.site_codes(session, {site_id})[site_id]


def commit_offset(db: Database, settings: Settings, upload: Upload, offset: int) -> None:
    """Record bytes already fsynced; each acknowledged byte also pushes back expiry."""
    expires = utcnow() + timedelta(hours=settings.upload_expire_hours)
    with db.write() as session:
        session.execute(
            update(Upload)
            .where(col(Upload.id) == upload.id, col(Upload.status) == UploadStatus.receiving)
            .values(offset=offset, expires_at=expires)
        )
    metrics.UPLOAD_BYTES.labels("tus").inc(max(0, offset - upload.offset))
    upload.offset = offset
    upload.expires_at = expires


def _finish(db: Database, upload: Upload, **values: object) -> None:
    with db.write() as session:
        session.execute(update(Upload).where(col(Upload.id) == upload.id).values(**values))
    for key, value in values.items():
        setattr(upload, key, value)


def _stage(settings: Settings, upload: Upload, sha256: str) -> StagedFile:
    """A staged copy of the part file for `register()`, which consumes it.

    A hard link costs nothing and leaves the part file in place, so a crash
    during registration loses no byte: the next request completes it again.
    """
    source = part_path(settings.data_dir, upload.id)
    target = staging_path(settings.staging_dir, upload.filename)
    try:
        os.link(source, target)
    except OSError:  # staging on another filesystem
        shutil.copyfile(source, target)
    return StagedFile(target, sha256, upload.length, upload.filename)


def complete(db: Database, settings: Settings, upload: Upload, actor: Actor) -> Registered:
    """Verify the whole file and register it as a slide; a refusal keeps nothing.

    The caller holds the part file's lock and has committed offset == length.
    """
    part = part_path(settings.data_dir, upload.id)
    try:
        digest = file_sha256(part)
        if upload.sha256 is not None and digest != upload.sha256:
            raise UnprocessableError(
                N_(
                    "the whole file's SHA-256 differs from the one the client declared: "
                    "it was damaged on the way; send it again"
                )
            )
        with db.read() as session:
            site = session.get(Site, upload.site_id)
        assert site is not None
        result = slide_service.register(
            db, settings, _stage(settings, upload, digest), site, urgent=upload.case_id is not None
        )
    except SlideBridgeError as error:
        _finish(db, upload, status=UploadStatus.rejected, error=error.reason[:1000])
        remove_part(part)
        record(
            db, actor, "upload.reject", Outcome.failure, object_type="upload",
            object_id=upload.id, site_id=upload.site_id, detail=error.reason,
        )  # fmt: skip
        raise
    _finish(db, upload, status=UploadStatus.completed, slide_id=result.slide.id)
    remove_part(part)
    record(
        db, actor, "upload.complete" if result.created else "upload.complete.duplicate",
        Outcome.success, object_type="slide", object_id=result.slide.id,
        site_id=upload.site_id, detail=upload.filename,
    )  # fmt: skip
    return result


def find(db: Database, user: User, upload_id: str) -> tuple[Upload, str]:
    """The upload and its site's code (tus HEAD and PATCH: not audited one by one, as
    tiles are not; creation, the end and `read` are)."""
    with db.read() as session:
        upload = visible(session, user, upload_id)
        return upload, site_code(session, upload.site_id)


def read(ctx: Context, upload_id: str) -> UploadPublic:
    """The upload as JSON, audited (a file name can name a patient)."""
    try:
        upload, code = find(ctx.db, ctx.user, upload_id)
    except SlideBridgeError:
        record(ctx.db, ctx.actor, "upload.read", Outcome.not_found, object_type="upload",
               object_id=upload_id[:64])  # fmt: skip
        raise
    record(ctx.db, ctx.actor, "upload.read", Outcome.success, object_type="upload",
           object_id=upload.id, site_id=upload.site_id)  # fmt: skip
    return to_public(upload, code)


def terminate(ctx: Context, settings: Settings, upload: Upload) -> None:
    """tus termination: the bytes and the row go (a finished slide stays)."""
    check_may_add_slides(ctx.user)
    with ctx.db.write() as session:
        row = session.get(Upload, upload.id)
        if row is not None:
            session.delete(row)
    remove_part(part_path(settings.data_dir, upload.id))
    record(
        ctx.db, ctx.actor, "upload.terminate", Outcome.success,
        object_type="upload", object_id=upload.id, site_id=upload.site_id,
    )  # fmt: skip


def to_public(upload: Upload, code: str) -> UploadPublic:
    return UploadPublic.model_validate(upload, update={"site": code})
