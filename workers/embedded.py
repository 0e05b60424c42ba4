"""Pyramid workers inside `slidebridge serve`: threads that claim jobs from the database.

Threads, not processes: the build itself fans out to a process pool
(`build_pyramid(processes=...)`), so a worker thread mostly waits, and the web
process needs no second server to run jobs.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from app.core.config import Settings
from app.core.db import Database
from workers import jobs
from workers.build import run_claimed

log = logging.getLogger(__name__)


class EmbeddedWorkers:
    def __init__(self, db: Database, settings: Settings, count: int | None = None) -> None:
        self.db = db
        self.settings = settings
        self.count = settings.embedded_workers if count is None else count
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self.count):
            thread = threading.Thread(
                target=self._loop, name=f"pyramid-worker-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def alive(self) -> int:
        """Worker threads running (fewer than started means one died: `/readyz` says so)."""
        return sum(1 for thread in self._threads if thread.is_alive())

    def notify(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def idle_wait(self) -> None:
        """Wait until notified, stopped, or the poll interval has passed."""
        self._wake.wait(self.settings.job_poll_seconds)
        self._wake.clear()

    def run_once(self, owner: str) -> bool:
        """Claim and run one job; False if there was none."""
        job = jobs.claim_next(
            self.db,
            owner,
            timedelta(seconds=self.settings.job_lease_seconds),
            self.settings.job_max_attempts,
        )
        if job is None:
            return False
        run_claimed(self.db, self.settings, job, owner)
        return True

    def _loop(self) -> None:
        owner = jobs.worker_name("embedded")
        while not self._stop.is_set():
            try:
                if self.run_once(owner):
                    continue
            except Exception:  # the database went away: keep the worker alive, retry later
                log.exception("embedded worker: claiming a job failed")
            self.idle_wait()
