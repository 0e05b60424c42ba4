"""The database into one file and back: SQLite's online backup API, or pg_dump/pg_restore.

Both read a consistent snapshot while the hub keeps serving (SQLite in WAL mode: the
copy never blocks a writer; pg_dump: one repeatable-read transaction). The PostgreSQL
password goes to pg_dump in the environment, never on a command line `ps` shows.
A URL whose `options` set a `search_path` (one schema of a shared database) dumps and
restores that schema only.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.db import Database
from app.services.backup.manifest import BackupError

_SEARCH_PATH = re.compile(r"-c\s*search_path\s*=\s*([A-Za-z_][A-Za-z0-9_]*)")


def kind(settings: Settings) -> str:
    return "sqlite" if settings.sqlalchemy_url.startswith("sqlite") else "postgresql"


def _sqlite_file(settings: Settings) -> Path:
    name = make_url(settings.sqlalchemy_url).database
    if not name or name == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(name)


def _postgres(settings: Settings) -> tuple[dict[str, str], str, str | None]:
    """Environment for the PostgreSQL client programs, the database name, the schema."""
    url = make_url(settings.sqlalchemy_url)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    values = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
    }
    env.update({key: value for key, value in values.items() if value})
    options = url.query.get("options")
    options = options if isinstance(options, str) else None
    if options:
        env["PGOPTIONS"] = options
    match = _SEARCH_PATH.search(options or "")
    return env, url.database or "postgres", match.group(1) if match else None


def _run(program: str, arguments: list[str], env: dict[str, str]) -> None:
    path = shutil.which(program)
    if path is None:
        raise BackupError(f"{program} not found: install the PostgreSQL client programs")
    done = subprocess.run(  # noqa: S603 - a fixed program, arguments built here
        [path, *arguments], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise BackupError(f"{program}: {lines[-1]}")


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup, page by page, into `target` (made, or replaced in place
    with its WAL: no stale -wal file survives). The source is opened read-only: a wrong
    path must not leave an empty database behind."""
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    writer = sqlite3.connect(target)
    try:
        reader.backup(writer)
    finally:
        writer.close()
        reader.close()


def revision(settings: Settings) -> str | None:
    db = Database.from_settings(settings)
    try:
        with db.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        db.dispose()


def dump(settings: Settings, target: Path) -> None:
    """A consistent copy of the whole database in `target` (written aside, renamed)."""
    aside = target.with_name(f".{target.name}.tmp")
    aside.unlink(missing_ok=True)
    try:
        if kind(settings) == "sqlite":
            source_file = _sqlite_file(settings)
            if not source_file.is_file():
                raise BackupError(f"no SQLite database at {source_file}")
            _sqlite_copy(source_file, aside)
        else:
            env, name, schema = _postgres(settings)
            scope = ["--schema", schema] if schema else []
            _run("pg_dump", ["--format=custom", "--no-owner", "--no-privileges",
                             f"--file={aside}", *scope, name], env)  # fmt: skip
        with open(aside, "rb") as handle:
            os.fsync(handle.fileno())
        aside.replace(target)
    finally:
        aside.unlink(missing_ok=True)


def holds_tables(settings: Settings) -> bool:
    if kind(settings) == "sqlite" and not _sqlite_file(settings).is_file():
        return False
    db = Database.from_settings(settings)
    try:
        with db.engine.connect() as connection:
            return bool(inspect(connection).get_table_names())
    finally:
        db.dispose()


def load(settings: Settings, source: Path, *, replace: bool) -> None:
    """Put the dump in `source` into the configured database. With `replace` its
    tables are replaced; without, the database must hold none (refused before)."""
    if not source.is_file():
        raise BackupError(f"the backup lacks its database dump {source.name}")
    if kind(settings) == "sqlite":
        target_file = _sqlite_file(settings)
        target_file.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(source, target_file)
        return
    env, name, _schema = _postgres(settings)
    clean = ["--clean", "--if-exists"] if replace else []
    _run("pg_restore", ["--no-owner", "--no-privileges", "--exit-on-error",
                        "--single-transaction", *clean, f"--dbname={name}", str(source)],
         env)  # fmt: skip
