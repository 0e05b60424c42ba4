"""Scale-out through RQ on the real Redis at 127.0.0.1:6379 with a real `slidebridge worker`."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq.job import JobStatus

from app.core.config import Settings
from app.main import create_app
from tests.conftest import BOXES_TIFF, SLIDEBRIDGE, TINY_SVS, Backend, World, make_settings, upload
from tests.workers.helpers import child_env, job_of, slide_row
from workers import jobs, rq_queue

REDIS_URL = "redis://127.0.0.1:6379/0"
pytestmark = pytest.mark.redis


@pytest.fixture
def rq_settings(backend: Backend, tmp_path: Path, settings: Settings) -> Iterator[Settings]:
    # A queue of our own, so parallel test runs never take each other's jobs.
    queued = make_settings(
        backend, settings.data_dir, redis_url=REDIS_URL, queue_name=f"test-{uuid.uuid4().hex[:12]}"
    )
    yield queued
    redis = Redis.from_url(REDIS_URL)
    for queue in rq_queue.queues(queued, redis):
        queue.delete(delete_jobs=True)


def test_jobs_go_through_redis_to_a_worker_process(rq_settings: Settings, world: World) -> None:
    app = create_app(rq_settings, run_workers=True, migrate=False)
    assert app.state.workers is None  # with Redis, serve does not run jobs itself
    with TestClient(app, base_url="https://testserver") as client:
        routine = upload(client, world, "tech_north", BOXES_TIFF).json()
        urgent = upload(client, world, "tech_north", TINY_SVS, urgent=True).json()
    db = app.state.db
    redis = Redis.from_url(REDIS_URL)
    urgent_queue, normal_queue = rq_queue.queues(rq_settings, redis)
    assert urgent_queue.job_ids == [rq_queue.rq_job_id(job_of(db, urgent["id"]).id)]
    assert normal_queue.job_ids == [rq_queue.rq_job_id(job_of(db, routine["id"]).id)]
    done = subprocess.run(
        [*SLIDEBRIDGE, "worker", "--burst"],
        env=child_env(rq_settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for slide in (routine, urgent):
        row = slide_row(db, slide["id"])
        assert (row.status, row.progress, row.error) == ("ready", 1.0, None)
        assert job_of(db, slide["id"]).lease_owner.startswith("rq:")  # type: ignore[union-attr]
    assert urgent_queue.count == 0 and normal_queue.count == 0


def test_worker_redelivers_jobs_redis_lost(rq_settings: Settings, world: World) -> None:
    app = create_app(rq_settings, migrate=False)
    with TestClient(app, base_url="https://testserver") as client:
        slide = upload(client, world, "tech_north", TINY_SVS).json()
    redis = Redis.from_url(REDIS_URL)
    for queue in rq_queue.queues(rq_settings, redis):
        queue.delete(delete_jobs=True)  # Redis restarted without persistence
    done = subprocess.run(
        [*SLIDEBRIDGE, "worker", "--burst"],
        env=child_env(rq_settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert slide_row(app.state.db, slide["id"]).status == "ready"


def test_job_of_a_killed_rq_worker_is_delivered_again(
    rq_settings: Settings, world: World, backend: Backend
) -> None:
    app = create_app(rq_settings, migrate=False)
    with TestClient(app, base_url="https://testserver") as client:
        slide = upload(client, world, "tech_north", TINY_SVS).json()
    db = app.state.db
    job = job_of(db, slide["id"])
    # An RQ worker took the delivery, claimed the row, and was killed -9: RQ still
    # believes the job is running, and the row's lease runs out.
    redis = Redis.from_url(REDIS_URL)
    queue = rq_queue.queues(rq_settings, redis)[1]
    [queue_job] = queue.get_jobs()
    queue.remove(queue_job)  # taken off the queue by the worker that then died
    queue_job.set_status(JobStatus.STARTED)
    claimed = jobs.claim(db, job.id, "rq:dead", timedelta(milliseconds=1), 3)
    assert claimed is not None
    time.sleep(0.01)
    done = subprocess.run(
        [*SLIDEBRIDGE, "worker", "--burst"],
        env=child_env(rq_settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    row = job_of(db, slide["id"])
    assert (row.state, row.attempts) == ("done", 2)
    assert row.lease_owner is not None and row.lease_owner != "rq:dead"
    assert slide_row(db, slide["id"]).status == "ready"
