"""Removing uploads nobody finished: expired rows and their part files, and the files
of slide sets whose manifest never came.

Run from upload creation at most every `reap_interval_seconds` (so a hub with
traffic needs no extra process) and by `slidebridge upload-reap` from cron.
Completed and rejected rows stay as a record; only their bytes were already gone.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import Database
from app.models.types import utcnow
from app.models.uploads import Upload, UploadPurpose, UploadStatus
from app.services.uploads.protocol import UploadLockedError
from app.services.uploads.store import PartWriter, part_path, remove_part

log = logging.getLogger(__name__)
_last_run = 0.0
_guard = threading.Lock()


def reap_expired(db: Database, settings: Settings) -> int:
    """Delete expired unfinished uploads; returns how many went. Busy ones are skipped."""
    with db.read() as session:
        expired = session.exec(
            select(Upload).where(
                Upload.status == UploadStatus.receiving, col(Upload.expires_at) <= utcnow()
            )
        ).all()
    reaped = _reap_unclaimed_set_parts(db, settings)
    for upload in expired:
        path = part_path(settings.data_dir, upload.id)
        try:
            writer = PartWriter(path) if path.exists() else None
        except UploadLockedError:
            continue  # a request is writing it right now: it is not abandoned
        try:
            with db.write() as session:
                row = session.get(Upload, upload.id)
                if row is None or row.expires_at > utcnow():
                    continue
                session.delete(row)
            remove_part(path)
            reaped += 1
        finally:
            if writer is not None:
                writer.close()
    if reaped:
        log.info("reaped %d expired uploads", reaped)
    return reaped


def _reap_unclaimed_set_parts(db: Database, settings: Settings) -> int:
    """Files of slide sets whose manifest never came: their bytes go, the row stays as a
    record of why (a manifest naming one later is told the file was not sent)."""
    with db.write() as session:
        parts = session.exec(
            select(Upload).where(
                Upload.status == UploadStatus.completed,
                Upload.purpose == UploadPurpose.set_part,
                col(Upload.slide_id).is_(None),
                col(Upload.expires_at) <= utcnow(),
            )
        ).all()
        ids = [part.id for part in parts]
        for part in parts:
            part.status = UploadStatus.rejected
            part.error = "expired before a slide set's manifest named it"
            session.add(part)
    for upload_id in ids:
        remove_part(part_path(settings.data_dir, upload_id))
    return len(ids)


def reap_now_and_then(db: Database, settings: Settings) -> None:
    """`reap_expired`, at most once per `upload_reap_interval_seconds` in this process."""
    global _last_run
    with _guard:
        if time.monotonic() - _last_run < settings.upload_reap_interval_seconds:
            return
        _last_run = time.monotonic()
    try:
        reap_expired(db, settings)
    except Exception:  # reaping is housekeeping: never fail an upload for it
        log.exception("reaping expired uploads failed")
