"""Scale-out: pyramid jobs delivered through RQ on Redis to `slidebridge worker` processes.

Why RQ: it is small (jobs are Python calls, one Redis list per queue), actively
maintained, typed, and needs nothing but Redis, which the deployment already has
for this purpose; Celery brings a broker abstraction, result backends and a
scheduler we would not use, and Dramatiq/Huey add less than they cost here. RQ only
*delivers* a job id: the job row in the database stays the source of truth
(claimed with a lease, fenced by owner), so a message delivered twice runs once,
and a worker killed with kill -9 is detected by its lease running out, whatever
RQ believes about it.

Priority is two queues, `<name>-urgent` and `<name>`; an RQ worker always drains
the first before the second. `SimpleWorker` runs jobs in its own process (no fork
per job): forking a process that holds database connections is unsafe, and a
pyramid build already starts its own process pool.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta

from redis import Redis
from rq import Queue, SimpleWorker
from rq.exceptions import DuplicateJobError
from rq.job import Job as RQJob
from rq.job import JobStatus

from app.core.config import Settings
from app.core.db import Database
from app.models.jobs import URGENT_PRIORITY
from workers import jobs
from workers.build import run_claimed

log = logging.getLogger(__name__)

#: RQ's own timeout for one build; far longer than any slide takes, as a last resort.
RQ_JOB_TIMEOUT_S = 6 * 3600
_LIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


def connect(settings: Settings) -> Redis:
    assert settings.redis_url, "RQ needs SLIDEBRIDGE_REDIS_URL"
    return Redis.from_url(settings.redis_url)


def queues(settings: Settings, redis: Redis) -> list[Queue]:
    """Most urgent first: the order in which a worker takes from them."""
    return [
        Queue(f"{settings.queue_name}-urgent", connection=redis),
        Queue(settings.queue_name, connection=redis),
    ]


def rq_job_id(job_id: uuid.UUID) -> str:
    return f"slidebridge-pyramid-{job_id}"


def enqueue(
    settings: Settings, redis: Redis, job_id: uuid.UUID, priority: int, *, redeliver: bool = False
) -> bool:
    """Deliver a job id; with `redeliver`, replace a delivery whose worker died."""
    urgent, normal = queues(settings, redis)
    queue = urgent if priority >= URGENT_PRIORITY else normal
    key = rq_job_id(job_id)
    existing = RQJob.fetch(key, connection=redis) if RQJob.exists(key, connection=redis) else None
    if existing is not None:
        if existing.get_status() in _LIVE and not redeliver:
            return False
        existing.delete()
    try:
        queue.enqueue(
            run_job,
            str(job_id),
            job_id=key,
            unique=True,
            job_timeout=RQ_JOB_TIMEOUT_S,
            result_ttl=0,
            failure_ttl=24 * 3600,
        )
    except DuplicateJobError:  # another process delivered it a moment ago
        return False
    return True


def run_job(job_id: str) -> str:
    """The RQ task: claim the job row and build. Settings come from the worker's environment."""
    settings = Settings()
    db = Database.from_settings(settings)
    owner = jobs.worker_name("rq")
    try:
        job = jobs.claim(
            db,
            uuid.UUID(job_id),
            owner,
            timedelta(seconds=settings.job_lease_seconds),
            settings.job_max_attempts,
        )
        if job is None:
            return "skipped: done, failed or running elsewhere"
        return str(run_claimed(db, settings, job, owner))
    finally:
        db.dispose()


def redeliver_pending(settings: Settings, db: Database, redis: Redis) -> int:
    """Enqueue every job waiting in the database (and re-enqueue those whose worker died)."""
    count = 0
    for job_id, priority, worker_died in jobs.pending_jobs(db):
        count += enqueue(settings, redis, job_id, priority, redeliver=worker_died)
    return count


class _Reaper(threading.Thread):
    """Keeps Redis in step with the job table: lost deliveries and dead workers' jobs."""

    def __init__(self, settings: Settings, db: Database, redis: Redis) -> None:
        super().__init__(name="job-reaper", daemon=True)
        self.settings, self.db, self.redis = settings, db, redis
        self.stopped = threading.Event()

    def run(self) -> None:
        interval = max(1.0, self.settings.job_lease_seconds / 2)
        while not self.stopped.wait(interval):
            try:
                redeliver_pending(self.settings, self.db, self.redis)
            except Exception:
                log.exception("job reaper: redelivery failed")


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """`slidebridge worker`: run RQ jobs until stopped (or, with `burst`, until idle)."""
    redis = connect(settings)
    db = Database.from_settings(settings)
    db.migrate()
    redeliver_pending(settings, db, redis)
    reaper = _Reaper(settings, db, redis)
    reaper.start()
    try:
        worker = SimpleWorker(queues(settings, redis), connection=redis)
        worker.work(burst=burst, logging_level="INFO")
    finally:
        reaper.stopped.set()
        db.dispose()
