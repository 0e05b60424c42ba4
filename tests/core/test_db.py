"""The database layer: SQLite settings, concurrent writers, migrations, aware timestamps."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlmodel import select

from app.core import audit
from app.core.config import DEFAULT_SECRET, Settings
from app.core.db import MIGRATIONS_DIR, Database
from app.models.accounts import Site
from app.models.audit import AuditEvent, Outcome


def test_sqlite_connections_are_hardened(tmp_path: Path) -> None:
    db = Database.from_settings(Settings(data_dir=tmp_path))
    with db.engine.connect() as connection:
        pragmas = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    db.dispose()
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 60000,
    }


def test_concurrent_writers_never_see_database_is_locked(db: Database) -> None:
    errors: list[BaseException] = []
    actor = audit.Actor(None, "load", "127.0.0.1")

    def writer(index: int) -> None:
        try:
            for step in range(15):
                # Read then write in one transaction: the case a deferred BEGIN gets wrong.
                with db.write() as session:
                    session.exec(select(AuditEvent).limit(1)).first()
                    session.add(Site(code=f"S{index}-{step}", name="load"))
                audit.record(db, actor, "load", Outcome.success, detail=f"{index}/{step}")
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.read() as session:
        assert len(session.exec(select(Site)).all()) == 120
        assert len(session.exec(select(AuditEvent)).all()) == 120


def test_migrations_are_idempotent(db: Database) -> None:
    db.migrate()
    db.migrate()
    with db.read() as session:
        version = session.exec(text("SELECT version_num FROM alembic_version")).one()  # type: ignore[call-overload]
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert version[0] == ScriptDirectory.from_config(config).get_current_head()


def test_timestamps_come_back_timezone_aware(db: Database) -> None:
    with db.write() as session:
        session.add(Site(code="TZ", name="tz"))
    with db.read() as session:
        site = session.exec(select(Site).where(Site.code == "TZ")).one()
    assert site.created_at.tzinfo is not None
    assert abs((datetime.now(UTC) - site.created_at).total_seconds()) < 60


def test_default_secret_is_refused_outside_development() -> None:
    with pytest.raises(ValueError, match="SECRET_KEY"):
        Settings(environment="production")
    assert Settings(environment="development").secret_key == DEFAULT_SECRET
    assert Settings(database_url="postgresql://u@h/d").sqlalchemy_url.startswith(
        "postgresql+psycopg://"
    )
