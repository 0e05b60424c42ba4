"""The database: one engine per process, read and write sessions, migrations at startup.

SQLite is the embedded default. Several threads and processes (web requests,
embedded workers, `slidebridge worker`) write to it, so every connection gets
WAL (readers never block the writer), synchronous=FULL (a committed audit event
survives a power cut), foreign keys and a busy timeout. A deferred transaction
that reads and then writes can fail with "database is locked" at once, whatever
the timeout, when another writer committed in between; so writes run in
`Database.write()`, which starts with BEGIN IMMEDIATE and queues on the busy
timeout instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

from app.core.config import Settings

#: Milliseconds a connection waits for SQLite's write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 60_000
_IMMEDIATE = "slidebridge_immediate"
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling would issue a deferred BEGIN; take it over.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        "journal_mode=WAL",
        "synchronous=FULL",
        "foreign_keys=ON",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    mode = "IMMEDIATE" if connection.get_execution_options().get(_IMMEDIATE) else "DEFERRED"
    connection.exec_driver_sql(f"BEGIN {mode}")


class EncodedJSON(str):
    """A JSON column's value encoded before its transaction: written as it is.

    Encoding a 50,000-point outline takes most of a second; done inside a write
    transaction, SQLite's one write lock waits for it (a slide open's audit row too)."""


def encode_json(value: object) -> EncodedJSON:
    return EncodedJSON(json.dumps(value))


def _json_serializer(value: object) -> str:
    # json.dumps, as SQLAlchemy's default, except for text encoded ahead.
    return str(value) if isinstance(value, EncodedJSON) else json.dumps(value)


def make_engine(url: str) -> Engine:
    # Statement parameters are patient data (MRNs, names): never in an error's message,
    # so never in a log or a traceback. `echo` stays off for the same reason.
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            pool_size=20,
            max_overflow=20,
            hide_parameters=True,
            json_serializer=_json_serializer,
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        hide_parameters=True,
        json_serializer=_json_serializer,
    )


class Database:
    """The engine plus the two ways to use it: `read()` and `write()` sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        if settings.sqlalchemy_url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.sqlalchemy_url)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for queries; anything it changed is rolled back on close."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction, committed on success: BEGIN IMMEDIATE on SQLite."""
        with Session(self.engine, expire_on_commit=False) as session:
            session.connection(execution_options={_IMMEDIATE: True})
            yield session
            session.commit()

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema to `revision`, the newest by default (safe to run concurrently)."""
        with self.engine.connect().execution_options(**{_IMMEDIATE: True}) as connection:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS_DIR))
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def dispose(self) -> None:
        self.engine.dispose()
