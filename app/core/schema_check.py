"""Do the migrations build the schema the models describe? (`slidebridge db check`)

A scratch database is migrated to the newest revision and compared with the
models' metadata by Alembic's autogenerate comparison: every table, column, type,
nullability, index, unique constraint and foreign key. Nothing is written to the
service's own database: SQLite uses a temporary file, PostgreSQL a temporary schema
that is dropped afterwards.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import types
from sqlmodel import SQLModel

import app.models  # noqa: F401 - registers every table in SQLModel.metadata
from app.core.db import Database


def _same_type(
    _context: Any,
    _column: Any,
    _metadata_column: Any,
    reflected: types.TypeEngine[Any],
    declared: types.TypeEngine[Any],
) -> bool | None:
    """False when equal, None to let Alembic decide (its hook's convention).

    SQLite has no UUID or JSON type of its own: it reflects what `sa.Uuid` and `JSON`
    create there as CHAR(32) and JSON/TEXT, which are the same columns."""
    if isinstance(declared, types.TypeDecorator):
        declared = declared.impl_instance
    if isinstance(declared, types.Uuid) and isinstance(reflected, types.CHAR | types.Uuid):
        return False
    return None


def differences(db: Database) -> list[str]:
    """What the migrated schema of `db` lacks or has beyond the models, one line each."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": _same_type, "compare_server_default": False}
        )
        found = compare_metadata(context, SQLModel.metadata)
    return [_describe(entry) for entry in found]


def _describe(entry: Any) -> str:
    # Alembic gives a tuple per change, or a list of tuples for one column's changes.
    if isinstance(entry, list):
        return "; ".join(_describe(part) for part in entry)
    kind, *rest = entry
    names = []
    for part in rest:
        name = getattr(part, "name", None)
        table = getattr(getattr(part, "table", None), "name", None)
        if name is not None:
            names.append(f"{table}.{name}" if table and table != name else str(name))
        elif part is not None and not isinstance(part, dict):
            names.append(repr(part))
    return f"{kind}: {' '.join(names)}"


@contextmanager
def scratch_sqlite() -> Iterator[Database]:
    with tempfile.TemporaryDirectory(prefix="slidebridge-db-check-") as folder:
        db = Database(f"sqlite:///{Path(folder) / 'check.db'}")
        try:
            yield db
        finally:
            db.dispose()


@contextmanager
def scratch_postgres_schema(url: str) -> Iterator[Database]:
    """A new schema in the PostgreSQL database at `url` (SQLAlchemy form), dropped after."""
    schema = f"schema_check_{uuid.uuid4().hex[:12]}"
    admin = Database(url)
    with admin.engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in url else "?"
    db = Database(f"{url}{separator}options=-csearch_path%3D{schema}")
    try:
        yield db
    finally:
        db.dispose()
        with admin.engine.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def check(db: Database) -> list[str]:
    """Migrate the scratch database `db` to the newest revision, then compare."""
    db.migrate()
    return differences(db)
