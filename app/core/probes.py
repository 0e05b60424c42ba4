"""Checks of what a running hub stands on: the database, its schema, Redis, the data directory.

Shared by `/readyz` (may this process take traffic now?) and `slidebridge check` (is
this deployment set up right?), so both judge a deployment the same way. Each probe
answers a `Finding`; none raises for a failure it is there to detect.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from app.core.db import MIGRATIONS_DIR, Database

#: Seconds a probe waits for Redis before calling it down.
REDIS_TIMEOUT_SECONDS = 2.0


class Level(StrEnum):
    ok = "ok"
    #: Worth knowing, not wrong (the development key on a development machine).
    warning = "warning"
    failed = "FAILED"


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    detail: str

    @property
    def wrong(self) -> bool:
        return self.level == Level.failed

    def line(self) -> str:
        return f"{self.level.value:<7} {self.check}: {self.detail}"


def _reason(error: BaseException) -> str:
    # One line: driver errors carry the SQL and a documentation link on further lines.
    first = str(error).strip().splitlines()
    return f"{type(error).__name__}: {first[0] if first else ''}"[:300]


def database(db: Database) -> Finding:
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any driver error means "not reachable"
        return Finding("database", Level.failed, _reason(error))
    return Finding("database", Level.ok, f"{db.engine.dialect.name} reachable")


def migrations(db: Database) -> Finding:
    """Is the schema at the newest migration this code ships?"""
    heads = set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())
    try:
        with db.engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    except Exception as error:
        return Finding("migrations", Level.failed, _reason(error))
    if current == heads:
        return Finding("migrations", Level.ok, f"schema at {', '.join(sorted(heads))}")
    have = ", ".join(sorted(current)) or "no schema"
    return Finding(
        "migrations",
        Level.failed,
        f"schema at {have}, code expects {', '.join(sorted(heads))} "
        "(`slidebridge serve` migrates at start)",
    )


def redis(url: str) -> Finding:
    from redis import Redis

    client = Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    except Exception as error:
        return Finding("redis", Level.failed, _reason(error))
    finally:
        client.close()
    return Finding("redis", Level.ok, "reachable")


def writable(directory: Path, check: str = "storage") -> Finding:
    """Create, fsync and remove a file in `directory` (made if missing): what storing a
    slide does, short of the bytes."""
    probe = directory / f".probe-{uuid.uuid4().hex}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with open(probe, "xb") as handle:
            handle.write(b"slidebridge")
            os.fsync(handle.fileno())
        probe.unlink()
    except OSError as error:
        return Finding(check, Level.failed, f"{directory} not writable: {error.strerror}")
    return Finding(check, Level.ok, f"{directory} writable")


def free_space(directory: Path, minimum: int) -> Finding:
    try:
        free = shutil.disk_usage(directory).free
    except OSError as error:
        return Finding("free space", Level.failed, f"{directory}: {error.strerror}")
    detail = f"{free / 1024**3:.1f} GiB free at {directory} (need {minimum / 1024**3:.1f} GiB)"
    return Finding("free space", Level.failed if free < minimum else Level.ok, detail)
