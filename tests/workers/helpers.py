"""Shared by the worker tests: waiting for a slide, and the environment of a child process."""

from __future__ import annotations

import os
import sys
import time
import uuid
from typing import Any

from app.core.config import Settings
from app.core.db import Database
from app.models.jobs import Job
from app.models.slides import SlideRecord
from tests.conftest import REPO

PYTHON = sys.executable


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIDEBRIDGE_")}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "SLIDEBRIDGE_ENVIRONMENT": settings.environment,
            "SLIDEBRIDGE_SECRET_KEY": settings.secret_key,
            "SLIDEBRIDGE_DATA_DIR": str(settings.data_dir),
            "SLIDEBRIDGE_BUILD_PROCESSES": "1",
            "SLIDEBRIDGE_JOB_LEASE_SECONDS": str(settings.job_lease_seconds),
            "SLIDEBRIDGE_QUEUE_NAME": settings.queue_name,
        }
    )
    if settings.database_url:
        env["SLIDEBRIDGE_DATABASE_URL"] = settings.database_url
    if settings.redis_url:
        env["SLIDEBRIDGE_REDIS_URL"] = settings.redis_url
    env.update(extra)
    return env


def slide_row(db: Database, slide_id: str | uuid.UUID) -> SlideRecord:
    with db.read() as session:
        slide = session.get(SlideRecord, uuid.UUID(str(slide_id)))
        assert slide is not None
        return slide


def job_of(db: Database, slide_id: str | uuid.UUID) -> Job:
    from sqlmodel import select

    with db.read() as session:
        job = session.exec(select(Job).where(Job.slide_id == uuid.UUID(str(slide_id)))).one()
        return job


def wait_for_status(
    db: Database, slide_id: str, statuses: set[str], timeout: float = 60
) -> SlideRecord:
    deadline = time.monotonic() + timeout
    seen: list[tuple[str, float]] = []
    while time.monotonic() < deadline:
        slide = slide_row(db, slide_id)
        seen.append((slide.status, slide.progress))
        if slide.status in statuses:
            return slide
        time.sleep(0.05)
    raise AssertionError(f"slide stayed {seen[-1]} (want {statuses})")


def as_dict(slide: SlideRecord) -> dict[str, Any]:
    return slide.model_dump()
