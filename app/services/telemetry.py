"""What the database knows, as Prometheus gauges read at scrape time.

The same from whichever process is scraped (the rows are shared), so these are never
summed over processes: the job queue (the job rows are the queue, whatever delivers
them), slides being received, and the frozen sections waiting for a report. Counts
and ages only: no patient data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import func
from sqlmodel import Session, col, select

from app.core.config import Settings
from app.core.db import Database
from app.models.accounts import Site
from app.models.cases import Case, CaseStatus, CaseType
from app.models.jobs import Job, JobState
from app.models.transfers import Transfer, TransferStatus
from app.models.types import utcnow
from app.models.uploads import Upload, UploadStatus

log = logging.getLogger(__name__)

#: A frozen section is open until its first report is signed (or it is cancelled).
OPEN_CASE = (
    CaseStatus.requested,
    CaseStatus.slides_uploading,
    CaseStatus.ready,
    CaseStatus.in_review,
)


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


def _jobs(session: Session, now: datetime) -> Iterator[Metric]:
    counts = GaugeMetricFamily(
        "slidebridge_jobs", "Pyramid jobs waiting or running, by state.", labels=["state"]
    )
    rows = dict(
        session.exec(
            select(Job.state, func.count())
            .where(col(Job.state).in_([JobState.queued, JobState.running]))
            .group_by(Job.state)
        ).all()
    )
    for state in (JobState.queued, JobState.running):
        counts.add_metric([state.value], rows.get(state, 0))
    yield counts
    oldest = session.exec(
        select(func.min(Job.created_at)).where(Job.state == JobState.queued)
    ).one()
    yield GaugeMetricFamily(
        "slidebridge_job_oldest_queued_seconds",
        "Age of the oldest queued pyramid job (0 when none waits).",
        value=_age(now, oldest),
    )


def _transfers(session: Session) -> Iterator[Metric]:
    active = GaugeMetricFamily(
        "slidebridge_transfers_active",
        "Slide files being received (not yet complete, not expired), by protocol.",
        labels=["protocol"],
    )
    tus = session.exec(
        select(func.count()).select_from(Upload).where(Upload.status == UploadStatus.receiving)
    ).one()
    progressive = session.exec(
        select(func.count())
        .select_from(Transfer)
        .where(Transfer.status == TransferStatus.receiving)
    ).one()
    active.add_metric(["tus"], tus)
    active.add_metric(["progressive"], progressive)
    yield active


def _frozen_sections(session: Session, now: datetime) -> Iterator[Metric]:
    open_cases = GaugeMetricFamily(
        "slidebridge_frozen_sections_open",
        "Frozen-section cases requested and not yet reported, by site.",
        labels=["site"],
    )
    oldest = GaugeMetricFamily(
        "slidebridge_frozen_section_oldest_open_seconds",
        "Time since the request of the oldest unreported frozen section, by site "
        "(the 20-minute goal is judged on it).",
        labels=["site"],
    )
    rows = session.exec(
        select(Site.code, func.count(), func.min(Case.requested_at))
        .join(Site, col(Site.id) == col(Case.site_id))
        .where(Case.type == CaseType.frozen_section, col(Case.status).in_(OPEN_CASE))
        .group_by(Site.code)
    ).all()
    seen = {code: (count, first) for code, count, first in rows}
    # Every site, zeros included: an absent series reads as "no data", not "none open".
    for code in session.exec(select(Site.code).order_by(Site.code)).all():
        count, first = seen.get(code, (0, None))
        open_cases.add_metric([code], count)
        oldest.add_metric([code], _age(now, first))
    yield open_cases
    yield oldest


def _redis_queue(settings: Settings) -> Iterator[Metric]:
    """Messages RQ holds for the workers (the job rows are the truth; a gap between the
    two means a worker's reaper has messages to resend)."""
    from redis.exceptions import RedisError

    from workers.rq_queue import connect, queues

    redis = connect(settings)
    waiting = GaugeMetricFamily(
        "slidebridge_rq_messages",
        "Job messages waiting in the RQ queues on Redis, by queue.",
        labels=["queue"],
    )
    try:
        for queue in queues(settings, redis):
            waiting.add_metric([queue.name], queue.count)
    except RedisError:
        # Redis down: the other gauges still answer; `/readyz` says what is wrong.
        log.warning("metrics: Redis did not answer", exc_info=True)
        return
    finally:
        redis.close()
    yield waiting


class DatabaseGauges:
    """A Prometheus collector over the service's database (one short read per scrape)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        with self.db.read() as session:
            metrics = [
                *_jobs(session, now),
                *_transfers(session),
                *_frozen_sections(session, now),
            ]
        yield from metrics
        if self.settings.redis_url:
            yield from _redis_queue(self.settings)
