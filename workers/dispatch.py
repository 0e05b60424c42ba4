"""Telling the workers that a job is waiting, whichever kind of workers there are."""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

from app.core.config import Settings
from workers import rq_queue

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    def notify(self, job_id: uuid.UUID, priority: int) -> None: ...


class Wakeable(Protocol):
    def notify(self) -> None: ...


class EmbeddedDispatcher:
    """The job row is already the queue; just wake the in-process workers (if running)."""

    def __init__(self, workers: Wakeable | None = None) -> None:
        self.workers = workers

    def notify(self, job_id: uuid.UUID, priority: int) -> None:
        if self.workers is not None:
            self.workers.notify()


class RQDispatcher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.redis = rq_queue.connect(settings)

    def notify(self, job_id: uuid.UUID, priority: int) -> None:
        try:
            rq_queue.enqueue(self.settings, self.redis, job_id, priority)
        except Exception:  # Redis down: the job row is durable and a worker's reaper resends it
            log.exception("could not enqueue job %s on Redis", job_id)


def dispatcher_for(settings: Settings, workers: Wakeable | None = None) -> Dispatcher:
    return RQDispatcher(settings) if settings.redis_url else EmbeddedDispatcher(workers)
