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

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select

from app.core import metrics
from app.core.access import (
    check_may_add_slides,
    check_may_attach,
    site_filter,
    target_site,
    visible_case,
)
from app.core.audit import record
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import PayloadTooLargeError, UnprocessableError
from app.core.i18n import N_
from app.core.storage import file_sha256
from app.models.accounts import Site, User
from app.models.audit import Outcome
from app.models.types import utcnow
from app.models.uploads import Upload, UploadPublic, UploadPurpose, UploadStatus
from app.services import slides as slide_service
from app.services.attachments import intake
from app.services.cases import service as case_service
from app.services.context import Context
from app.services.slides import Registered
from app.services.staging import StagedFile, display_name, staging_path
from app.services.uploads.protocol import TusError, parse_sha256
from app.services.uploads.store import create_part, part_path, remove_part
from tiler import NotFoundError, SlideBridgeError


def _check_may_send(user: User, purpose: UploadPurpose) -> None:
    """Slides come from technicians and pathologists; a case's photographs and documents
    also from its surgeons (`access.check_may_attach`)."""
    if purpose == UploadPurpose.attachment:
        check_may_attach(user)
    else:
        check_may_add_slides(user)


def _purpose(metadata: dict[str, str]) -> UploadPurpose:
    """The metadata `purpose`: a slide (the default) or an attachment, which needs a case."""
    try:
        purpose = UploadPurpose(metadata.get("purpose", UploadPurpose.slide))
    except ValueError as error:
        raise TusError(
            N_("the upload metadata 'purpose' is 'slide', 'attachment' or 'set_part'")
        ) from error
    if purpose == UploadPurpose.attachment and not metadata.get("case"):
        raise TusError(N_("an attachment's upload names its case in the metadata 'case'"))
    if purpose == UploadPurpose.set_part and not metadata.get("sha256"):
        # The manifest names a part by its SHA-256: it must be the one verified.
        raise TusError(N_("a slide set's file declares its SHA-256 in the metadata 'sha256'"))
    return purpose


def _site_for(session: Session, user: User, code: str | None, purpose: UploadPurpose) -> Site:
    """The site an upload goes to: the named one, or the user's own.

    A site the user may not see is reported as unknown, as `POST /api/slides` does.
    """
    _check_may_send(user, purpose)
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
    """Bytes promised to unfinished uploads of the site, and held by files of slide sets
    not yet named by a manifest: they count against its quota."""
    total = session.exec(
        select(func.coalesce(func.sum(Upload.length), 0)).where(
            Upload.site_id == site_id,
            or_(
                col(Upload.status) == UploadStatus.receiving,
                and_(  # a slide set's file, held until its manifest comes
                    col(Upload.status) == UploadStatus.completed,
                    col(Upload.purpose) == UploadPurpose.set_part,
                    col(Upload.slide_id).is_(None),
                ),
            ),
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
    purpose = _purpose(metadata)
    upload = Upload(
        filename=display_name(metadata.get("filename", "")),
        length=length,
        sha256=parse_sha256(metadata.get("sha256")),
        expires_at=utcnow() + timedelta(hours=settings.upload_expire_hours),
        site_id=uuid.uuid4(),  # set below, once the site is known
        user_id=user.id,
        purpose=purpose,
    )
    path = part_path(settings.data_dir, upload.id)
    with db.write() as session:
        site = _site_for(session, user, metadata.get("site"), purpose)
        upload.case_id = _case_for(session, user, site, metadata.get("case"))
        if purpose == UploadPurpose.attachment:
            intake.check_case(session, upload.case_id, site.id)
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


def complete(ctx: Context, settings: Settings, upload: Upload) -> Registered | None:
    """Verify the whole file and register it as a slide, or keep it as an attachment of
    its case; a refusal keeps nothing. The slide registration (a pyramid job to
    dispatch), if any.

    The caller holds the part file's lock and has committed offset == length.
    """
    part = part_path(settings.data_dir, upload.id)
    attachment = None
    try:
        digest = file_sha256(part)
        if upload.sha256 is not None and digest != upload.sha256:
            raise UnprocessableError(
                N_(
                    "the whole file's SHA-256 differs from the one the client declared: "
                    "it was damaged on the way; send it again"
                )
            )
        if upload.purpose == UploadPurpose.set_part:
            _hold_set_part(ctx, upload)
            return None
        staged = _stage(settings, upload, digest)
        if upload.purpose == UploadPurpose.attachment:
            received = intake.receive(ctx.db, settings, upload, staged, ctx.actor)
            attachment, result = received.attachment, received.registered
        else:
            with ctx.db.read() as session:
                site = session.get(Site, upload.site_id)
            assert site is not None
            result = slide_service.register(
                ctx.db, settings, staged, site, urgent=upload.case_id is not None
            )
    except SlideBridgeError as error:
        _finish(ctx.db, upload, status=UploadStatus.rejected, error=error.reason[:1000])
        remove_part(part)
        record(
            ctx.db, ctx.actor, "upload.reject", Outcome.failure, object_type="upload",
            object_id=upload.id, site_id=upload.site_id, detail=error.reason,
        )  # fmt: skip
        raise
    slide_id = attachment.slide_id if attachment is not None else result and result.slide.id
    _finish(ctx.db, upload, status=UploadStatus.completed, slide_id=slide_id)
    remove_part(part)
    if attachment is not None:
        record(
            ctx.db, ctx.actor, "upload.complete", Outcome.success, object_type="attachment",
            object_id=attachment.id, site_id=upload.site_id, detail=upload.filename,
        )  # fmt: skip
        case_service.publish(ctx.db, ctx.hub, attachment.case_id, None)
        return result
    assert result is not None
    record(
        ctx.db, ctx.actor, "upload.complete" if result.created else "upload.complete.duplicate",
        Outcome.success, object_type="slide", object_id=result.slide.id,
        site_id=upload.site_id, detail=upload.filename,
    )  # fmt: skip
    return result


def _hold_set_part(ctx: Context, upload: Upload) -> None:
    """A verified file of a slide set stays where it is (its part file) until a manifest
    names it (`slide_sets.fill_from_parts`) or it expires (the reaper)."""
    _finish(ctx.db, upload, status=UploadStatus.completed)
    record(
        ctx.db, ctx.actor, "upload.complete", Outcome.success, object_type="upload",
        object_id=upload.id, site_id=upload.site_id, detail=f"set part {upload.filename}",
    )  # fmt: skip


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
    _check_may_send(ctx.user, upload.purpose)
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
