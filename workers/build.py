"""Running one claimed pyramid job: verify the stored file, build, record the outcome.

The pyramid is built by `tiler.pyramid.build_pyramid` into
`<data>/pyramids/<slide id>.tilepack`, which it writes aside and renames into
place: a reader sees the complete pyramid or none, and a worker killed mid-build
leaves only a scratch directory that the next run's build replaces.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from app.core.config import Settings
from app.core.db import Database
from app.core.storage import PYRAMID_OPTIONS, pyramid_path, slide_file, stored_sha256
from app.models.jobs import Job, JobState
from app.models.slides import SlideRecord
from tiler import SlideError
from tiler.pyramid import build_pyramid
from workers import jobs

log = logging.getLogger(__name__)

#: Priority drop of a background build's worker processes.
BUILD_NICENESS = 5
#: Progress is written at most this often, so a fast build does not flood the database.
PROGRESS_INTERVAL_S = 0.5


class _Heartbeat(threading.Thread):
    """Renews the job's lease every third of its length while the build runs."""

    def __init__(self, db: Database, job_id: object, owner: str, lease: timedelta) -> None:
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.db, self.job_id, self.owner, self.lease = db, job_id, owner, lease
        self.stopped = threading.Event()
        self.lost = False

    def run(self) -> None:
        while not self.stopped.wait(self.lease.total_seconds() / 3):
            try:
                if not jobs.heartbeat(self.db, self.job_id, self.owner, self.lease):  # type: ignore[arg-type]
                    self.lost = True
                    log.warning("job %s: lease lost; its result will be discarded", self.job_id)
                    return
            except Exception:  # a database hiccup: try again at the next beat
                log.exception("job %s: heartbeat failed", self.job_id)


def run_claimed(db: Database, settings: Settings, job: Job, owner: str) -> JobState:
    """Run a job this worker has claimed; returns the state it was left in."""
    with db.read() as session:
        slide = session.get(SlideRecord, job.slide_id)
    if slide is None:
        jobs.fail(db, job.id, owner, job.slide_id, "the slide was deleted")
        return JobState.failed
    lease = timedelta(seconds=settings.job_lease_seconds)
    beat = _Heartbeat(db, job.id, owner, lease)
    beat.start()
    last = 0.0

    def progress(fraction: float) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_INTERVAL_S:
            last = now
            jobs.set_progress(db, job.id, owner, slide.id, max(0.0, min(fraction, 0.99)))

    try:
        jobs.set_progress(db, job.id, owner, slide.id, 0.0)
        source = slide_file(settings, slide.storage_path)
        if stored_sha256(source) != slide.sha256:
            raise SlideError("the stored slide file does not match its SHA-256 (damaged storage)")
        build_pyramid(
            source,
            pyramid_path(settings, slide.id),
            PYRAMID_OPTIONS,
            layout="tilepack",
            progress=progress,
            processes=settings.build_processes,
            # Builds yield the CPU to tile requests: panning must never wait for one.
            niceness=BUILD_NICENESS,
        )
        jobs.finish(db, job.id, owner, slide.id)
        log.info("job %s: pyramid of slide %s ready", job.id, slide.id)
        return JobState.done
    except (SlideError, FileNotFoundError) as error:
        # The file itself is the problem: running again would fail the same way.
        reason = (
            error.reason if isinstance(error, SlideError) else "the stored slide file is missing"
        )
        jobs.fail(db, job.id, owner, slide.id, reason)
        log.warning("job %s failed: %s", job.id, reason)
        return JobState.failed
    except Exception as error:
        reason = f"{type(error).__name__}: {' '.join(str(error).split())}"
        log.exception("job %s: unexpected error", job.id)
        if job.attempts >= settings.job_max_attempts:
            jobs.fail(db, job.id, owner, slide.id, reason)
            return JobState.failed
        jobs.release(db, job.id, owner, reason)
        return JobState.queued
    finally:
        beat.stopped.set()
