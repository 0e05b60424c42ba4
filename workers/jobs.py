"""The durable job table: claim, heartbeat, finish, fail. The row is the source of truth.

A worker claims a job by writing its name and a lease expiry into the row in one
transaction: on SQLite under BEGIN IMMEDIATE (one writer at a time, so the
select-then-update cannot race), on PostgreSQL with SELECT ... FOR UPDATE SKIP
LOCKED (workers skip rows another one is claiming). A job whose lease ran out
(its worker was killed, or lost its machine) is claimable again; every later
write is fenced by the owner name, so a worker that lost its lease cannot
overwrite the result of the one that took over.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, update
from sqlmodel import Session, col, select

from app.core.db import Database
from app.models.jobs import Job, JobState
from app.models.slides import SlideRecord, SlideStatus
from app.models.types import utcnow


def worker_name(prefix: str = "worker") -> str:
    return f"{prefix}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        col(Job.state) == JobState.queued,
        (col(Job.state) == JobState.running) & (col(Job.lease_expires_at) < now),
    )


def _take(
    session: Session, job: Job, owner: str, lease: timedelta, max_attempts: int
) -> Job | None:
    now = utcnow()
    if job.attempts >= max_attempts:
        # Its worker died every time: give up, or a poison slide would loop for ever.
        job.state = JobState.failed
        job.error = f"gave up after {job.attempts} attempts (worker stopped each time)"
        job.finished_at = now
        job.lease_owner = None
        session.add(job)
        slide = session.get(SlideRecord, job.slide_id)
        if slide is not None:
            slide.status = SlideStatus.failed
            slide.error = job.error
            slide.updated_at = now
            session.add(slide)
        return None
    job.state = JobState.running
    job.attempts += 1
    job.lease_owner = owner
    job.lease_expires_at = now + lease
    job.heartbeat_at = now
    job.started_at = now
    job.error = None
    session.add(job)
    return job


def claim_next(db: Database, owner: str, lease: timedelta, max_attempts: int) -> Job | None:
    """Claim the most urgent claimable job, oldest first; None when there is none."""
    while True:
        with db.write() as session:
            query = (
                select(Job)
                .where(_claimable(utcnow()))
                .order_by(col(Job.priority).desc(), col(Job.created_at))
                .limit(1)
            )
            if not db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            job = session.exec(query).first()
            if job is None:
                return None
            taken = _take(session, job, owner, lease, max_attempts)
        if taken is not None:
            return taken
        # That one was given up on; look again.


def claim(
    db: Database, job_id: uuid.UUID, owner: str, lease: timedelta, max_attempts: int
) -> Job | None:
    """Claim one given job (the RQ path): None if it is done, failed or held by a live worker."""
    with db.write() as session:
        query = select(Job).where(Job.id == job_id, _claimable(utcnow()))
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        job = session.exec(query).first()
        if job is None:
            return None
        return _take(session, job, owner, lease, max_attempts)


def heartbeat(db: Database, job_id: uuid.UUID, owner: str, lease: timedelta) -> bool:
    """Extend the lease; False if this worker no longer owns the job."""
    now = utcnow()
    with db.write() as session:
        result = session.exec(
            update(Job)
            .where(col(Job.id) == job_id, col(Job.lease_owner) == owner)
            .where(col(Job.state) == JobState.running)
            .values(lease_expires_at=now + lease, heartbeat_at=now)
        )
        return bool(result.rowcount)


def set_progress(
    db: Database, job_id: uuid.UUID, owner: str, slide_id: uuid.UUID, progress: float
) -> bool:
    with db.write() as session:
        if not _owns(session, job_id, owner):
            return False
        session.exec(
            update(SlideRecord)
            .where(col(SlideRecord.id) == slide_id)
            .values(status=SlideStatus.tiling, progress=progress, error=None, updated_at=utcnow())
        )
        return True


def finish(db: Database, job_id: uuid.UUID, owner: str, slide_id: uuid.UUID) -> bool:
    return _close(db, job_id, owner, slide_id, JobState.done, None)


def fail(db: Database, job_id: uuid.UUID, owner: str, slide_id: uuid.UUID, reason: str) -> bool:
    return _close(db, job_id, owner, slide_id, JobState.failed, reason[:1000])


def release(db: Database, job_id: uuid.UUID, owner: str, reason: str) -> bool:
    """Give a job back to the queue (an unexpected error that another run may not hit)."""
    with db.write() as session:
        result = session.exec(
            update(Job)
            .where(col(Job.id) == job_id, col(Job.lease_owner) == owner)
            .where(col(Job.state) == JobState.running)
            .values(
                state=JobState.queued, lease_owner=None, lease_expires_at=None, error=reason[:1000]
            )
        )
        return bool(result.rowcount)


def _owns(session: Session, job_id: uuid.UUID, owner: str) -> bool:
    job = session.get(Job, job_id)
    return job is not None and job.lease_owner == owner and job.state == JobState.running


def _close(
    db: Database,
    job_id: uuid.UUID,
    owner: str,
    slide_id: uuid.UUID,
    state: JobState,
    error: str | None,
) -> bool:
    now = utcnow()
    with db.write() as session:
        result = session.exec(
            update(Job)
            .where(col(Job.id) == job_id, col(Job.lease_owner) == owner)
            .where(col(Job.state) == JobState.running)
            .values(state=state, error=error, finished_at=now, lease_expires_at=None)
        )
        if not result.rowcount:
            return False
        done = state == JobState.done
        session.exec(
            update(SlideRecord)
            .where(col(SlideRecord.id) == slide_id)
            .values(
                status=SlideStatus.ready if done else SlideStatus.failed,
                progress=1.0 if done else col(SlideRecord.progress),
                error=error,
                updated_at=now,
            )
        )
        return True


def pending_jobs(db: Database) -> list[tuple[uuid.UUID, int, bool]]:
    """Jobs a queue must (re)deliver: (id, priority, whether its worker died)."""
    with db.read() as session:
        rows = session.exec(
            select(Job.id, Job.priority, Job.state).where(_claimable(utcnow()))
        ).all()
        return [(job_id, priority, state == JobState.running) for job_id, priority, state in rows]
