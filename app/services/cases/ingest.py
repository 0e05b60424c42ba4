"""Slides into cases: a completed upload whose metadata names a case joins that case.

The upload service (issue "Ingest") stores the `case` a client sends; this loop,
running in the web process, settles each such upload once: attached if the case
exists and belongs to the upload's site, refused (and audited) otherwise. It also
moves waiting cases on (`requested` → `slides_uploading` → `ready`) as their
uploads begin and finish. Polling keeps the upload code free of case logic; a
quarter second is well inside the one second a screen may take to show a change.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.core import audit
from app.core.audit import Actor
from app.core.db import Database
from app.core.errors import ConflictError
from app.models.accounts import User
from app.models.audit import Outcome
from app.models.cases import Case, CaseStatus, CaseUpload
from app.models.slides import SlideRecord
from app.models.types import utcnow
from app.models.uploads import Upload, UploadPurpose, UploadStatus
from app.services.cases import service
from app.services.live import LiveHub

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
#: Uploads older than this are not looked at: they expired or were settled long ago.
HORIZON = timedelta(days=2)


def _pending(session: Session) -> list[Upload]:
    settled = select(CaseUpload.upload_id)
    rows = session.exec(
        select(Upload).where(
            col(Upload.case_id).is_not(None),
            # An attachment's upload becomes an attachment, not one of the case's slides.
            Upload.purpose == UploadPurpose.slide,
            col(Upload.status).in_([UploadStatus.receiving, UploadStatus.completed]),
            col(Upload.created_at) > utcnow() - HORIZON,
            col(Upload.id).not_in(settled),
        )
    ).all()
    return list(rows)


def _uploader(session: Session, upload: Upload) -> Actor:
    user = session.get(User, upload.user_id) if upload.user_id else None
    return Actor.of(user, None)


def settle(db: Database, hub: LiveHub, upload: Upload) -> uuid.UUID | None:
    """Attach a completed upload's slide to its case, or refuse it; the case id if attached."""
    case_id = upload.case_id
    event_id: int | None = None
    outcome, detail = "attached", None
    try:
        with db.write() as session:
            if session.get(CaseUpload, upload.id) is not None:
                return None  # settled by another process meanwhile
            actor = _uploader(session, upload)
            case = session.get(Case, case_id) if case_id else None
            slide = session.get(SlideRecord, upload.slide_id) if upload.slide_id else None
            if case is None or slide is None or case.site_id != upload.site_id:
                # Another site's case is "no such case", as everywhere else.
                outcome, detail = "refused", "no such case at the upload's site"
            else:
                try:
                    with session.begin_nested():
                        event_id = service.link_slide(session, case, slide, actor.username).id
                except ConflictError as error:
                    outcome, detail = "refused", error.reason
            session.add(
                CaseUpload(
                    upload_id=upload.id,
                    case_id=case_id if outcome == "attached" else None,
                    slide_id=upload.slide_id,
                    outcome=outcome,
                    detail=detail,
                )
            )
    except IntegrityError:
        return None  # the same upload settled concurrently
    audit.record(
        db, actor, "case.attach", Outcome.success if outcome == "attached" else Outcome.denied,
        object_type="case", object_id=case_id, site_id=upload.site_id,
        detail=detail or f"upload {upload.id} slide {upload.slide_id}",
    )  # fmt: skip
    if outcome != "attached" or case_id is None:
        return None
    service.publish(db, hub, case_id, event_id)
    return case_id


def reconcile(db: Database, hub: LiveHub) -> None:
    """One pass: settle completed uploads, then move on every case waiting for slides."""
    with db.read() as session:
        uploads = _pending(session)
        waiting = set(
            session.exec(
                select(Case.id).where(
                    col(Case.status).in_([CaseStatus.requested, CaseStatus.slides_uploading])
                )
            ).all()
        )
    for upload in uploads:
        if upload.status == UploadStatus.completed:
            settle(db, hub, upload)
    for case_id in waiting:
        service.advance(db, hub, case_id)


class IngestLoop:
    """`reconcile` every POLL_SECONDS in a daemon thread, for the life of the web app."""

    def __init__(self, db: Database, hub: LiveHub, interval: float = POLL_SECONDS) -> None:
        self.db, self.hub, self.interval = db, hub, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="case-ingest", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                reconcile(self.db, self.hub)
            except Exception:  # a database hiccup must not end the loop for good
                log.exception("case ingest pass failed")
