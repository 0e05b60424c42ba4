"""Alembic environment: the SQLModel metadata of every model is the schema.

`app.models` is imported for its side effect: it imports every model module, so
autogenerate compares the whole schema (without it, a revision would drop every
table it did not see). `slidebridge db check` tells when models and migrations differ.

`Database.migrate()` passes an open connection in `config.attributes`; the
`alembic` command line (run from the repository root with
`alembic -c app/migrations/alembic.ini ...`) builds one from the settings.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text
from sqlmodel import SQLModel

import app.models  # noqa: F401 - registers every table in SQLModel.metadata

#: Any fixed number: PostgreSQL's advisory lock key that serialises concurrent upgrades.
_MIGRATION_LOCK = 0x51DE_B1D6


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from app.core.config import Settings
    from app.core.db import Database

    database = Database.from_settings(Settings())
    with database.engine.connect() as new_connection:
        _run(new_connection)
    database.dispose()


_main()
