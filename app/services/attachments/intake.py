"""An attachment's upload, finished: what it is, what is kept of it, and its row.

Called by the upload service when every byte of an upload with the `attachment`
purpose has arrived and its SHA-256 is checked (the same tus upload as slides, so a
photograph from a tablet over a weak link resumes as a slide does).

- A picture (JPEG, PNG, WebP, TIFF; HEIF where the hub's libvips decodes it) is
  rewritten by the picture reader into the tiled TIFF a slide of it is stored as: the
  EXIF orientation applied to the pixels, no EXIF, GPS, XMP or IPTC kept, the file as
  sent deleted. That copy is registered as a slide of the case's site, so the viewer
  and annotations work on it unchanged. Its size is checked from the header against
  `MAX_ATTACHMENT_PIXELS` before any pixel is decoded (a decompression bomb is a 422).
- A PDF is kept byte for byte (`documents`), flagged when it holds active content.
- Anything else is a 415.

A refusal raises; the upload service marks the upload rejected with the reason and
deletes its bytes, and nothing else changes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.core import audit
from app.core.audit import Actor
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import ConflictError, UnprocessableError, UnsupportedMediaTypeError
from app.core.i18n import N_
from app.core.storage import content_path, file_sha256
from app.models.accounts import Site
from app.models.attachments import Attachment, AttachmentKind
from app.models.audit import Outcome
from app.models.cases import Case, CaseEvent, CasePriority, CaseStatus
from app.models.slides import SlideRecord
from app.models.uploads import Upload
from app.services import slides as slide_service
from app.services.attachments import documents
from app.services.slides import PYRAMID_SUFFIX, Registered, their_name_in_errors
from app.services.staging import StagedFile, move_into_place
from tiler import SlideError
from tiler.errors import SlideTooLargeError
from tiler.hardening import MAX_DECODE_PIXELS
from tiler.registry import write_picture_copy
from tiler.vips_reader import LOADERS, loader_of

#: The largest picture accepted as an attachment: what Pillow may decode at once, far
#: above any camera (a 100-megapixel back is 11,600 x 8,700) and far below a bomb.
MAX_ATTACHMENT_PIXELS = MAX_DECODE_PIXELS
#: The media type of what was received, by the loader its first bytes call for.
IMAGE_TYPES = {
    "jpegload": "image/jpeg",
    "pngload": "image/png",
    "webpload": "image/webp",
    "tiffload": "image/tiff",
    "heifload": "image/heif",
}
#: The case event an attachment adds to the case's timeline.
EVENT_KIND = "attachment"


@dataclass(frozen=True)
class Received:
    attachment: Attachment
    #: The image's slide registration (its pyramid job to dispatch); None for a document.
    registered: Registered | None


def check_case(session: Session, case_id: uuid.UUID | None, site_id: uuid.UUID) -> Case:
    """The case an attachment goes to: of the upload's site, and not cancelled."""
    case = session.get(Case, case_id) if case_id else None
    if case is None or case.site_id != site_id:
        raise UnprocessableError(N_("no such case at the upload's site"))
    if case.status == CaseStatus.cancelled:
        raise ConflictError(N_("the case is cancelled: nothing more can be attached to it"))
    return case


def receive(
    db: Database, settings: Settings, upload: Upload, staged: StagedFile, actor: Actor
) -> Received:
    """Keep the finished upload as an attachment of its case; consumes `staged`."""
    try:
        with db.read() as session:
            earlier = session.exec(
                select(Attachment).where(Attachment.upload_id == upload.id)
            ).first()
            if earlier is not None:  # a completion retried after a crash
                staged.discard()
                return Received(earlier, None)
            case = check_case(session, upload.case_id, upload.site_id)
            site = session.get(Site, upload.site_id)
        assert site is not None
        if documents.is_pdf(staged.path):
            with db.read() as session:
                slide_service.check_quota(session, settings, site, staged.size)
            attachment, registered = _document(settings, staged, case), None
        else:
            attachment, registered = _image(db, settings, staged, site, case)
    except BaseException:
        staged.discard()
        raise
    attachment.upload_id, attachment.added_by = upload.id, actor.username
    with db.write() as session:
        session.add(attachment)
        current = session.get(Case, case.id)
        assert current is not None
        session.add(
            CaseEvent(
                case_id=case.id, site_id=site.id, kind=EVENT_KIND, status=current.status,
                username=actor.username, detail=attachment.name[:500],
            )
        )  # fmt: skip
        session.flush()
        session.expunge(attachment)
    audit.record(
        db, actor, "attachment.add", Outcome.success, object_type="attachment",
        object_id=attachment.id, site_id=site.id,
        detail=f"case {case.id}: {attachment.name}"
        + (f" (active content {attachment.active_content})" if attachment.active_content else ""),
    )  # fmt: skip
    return Received(attachment, registered)


def _document(settings: Settings, staged: StagedFile, case: Case) -> Attachment:
    active = documents.active_content(staged.path)
    relative = content_path(staged.sha256, ".pdf")
    attachment = Attachment(
        case_id=case.id, site_id=case.site_id,
        name=staged.display_name, kind=AttachmentKind.document,
        received_type="application/pdf", size_bytes=staged.size, sha256=staged.sha256,
        received_sha256=staged.sha256, storage_path=relative.as_posix(),
        active_content=" ".join(f"/{name}" for name in active) or None,
    )  # fmt: skip
    move_into_place(staged, settings.data_dir / relative)
    return attachment


def _image(
    db: Database, settings: Settings, staged: StagedFile, site: Site, case: Case
) -> tuple[Attachment, Registered]:
    loader = loader_of(staged.path)
    if loader is None:
        raise UnsupportedMediaTypeError(
            N_("an attachment is a photograph or camera image (JPEG, PNG, WebP, TIFF) or a PDF")
        )
    target = settings.staging_dir / f"{uuid.uuid4().hex}{PYRAMID_SUFFIX}"
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with their_name_in_errors(staged):
            write_picture_copy(staged.path, target, MAX_ATTACHMENT_PIXELS)
    except SlideError as error:
        target.unlink(missing_ok=True)
        if loader == "heifload" and not isinstance(error, SlideTooLargeError):
            raise UnsupportedMediaTypeError(
                N_(
                    "this HEIC photograph cannot be decoded here: the hub's image library "
                    "reads AVIF but has no HEVC decoder. Set the camera to JPEG "
                    "(\u201cMost Compatible\u201d) or send the photograph as JPEG"
                )
            ) from error
        raise
    finally:
        staged.discard()  # the file as sent, with its metadata: not kept anywhere
    copy = StagedFile(target, file_sha256(target), target.stat().st_size, staged.display_name)
    attachment = Attachment(
        case_id=case.id, site_id=site.id,
        name=staged.display_name, kind=AttachmentKind.image, received_type=IMAGE_TYPES[loader],
        size_bytes=copy.size, sha256=copy.sha256, received_sha256=staged.sha256,
    )  # fmt: skip
    urgent = case.priority == CasePriority.urgent
    registered = slide_service.register(db, settings, copy, site, urgent=urgent)
    if registered.created:  # the viewer names what was sent (image-jpeg), not the copy's TIFF
        with db.write() as session:
            session.execute(
                update(SlideRecord)
                .where(col(SlideRecord.id) == registered.slide.id)
                .values(vendor=LOADERS[loader])
            )
    attachment.slide_id = registered.slide.id
    return attachment, registered
