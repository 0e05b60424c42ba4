"""The migrations build exactly the models' schema, and keep the data they move.

Both backends: a scratch SQLite file and a scratch schema on the PostgreSQL server.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app.core import schema_check
from app.core.config import Settings
from app.core.db import Database
from tests.conftest import POSTGRES_URL, SLIDEBRIDGE

POSTGRES = Settings(database_url=POSTGRES_URL).sqlalchemy_url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def scratch(request: pytest.FixtureRequest) -> Iterator[Database]:
    manager: AbstractContextManager[Database] = (
        schema_check.scratch_sqlite()
        if request.param == "sqlite"
        else schema_check.scratch_postgres_schema(POSTGRES)
    )
    with manager as db:
        yield db


def test_the_migrations_build_the_models_schema(scratch: Database) -> None:
    assert schema_check.check(scratch) == []


def test_a_schema_behind_the_models_is_reported(scratch: Database) -> None:
    """One revision behind, the upload's case key is missing: the check names it."""
    scratch.migrate("0004_cases")
    found = "\n".join(schema_check.differences(scratch))
    assert "upload.case_id" in found or "ix_upload_case_id" in found, found
    assert "fk" in found.lower() or "foreign" in found.lower() or "add_fk" in found, found


def _uuid_text(db: Database, value: uuid.UUID) -> str:
    # How sa.Uuid stores it: 32 hex digits on SQLite, native on PostgreSQL.
    return value.hex if db.is_sqlite else str(value)


def test_upload_case_ids_become_keys_and_strays_are_cleared(scratch: Database) -> None:
    scratch.migrate("0004_cases")
    site, case = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC).replace(tzinfo=None)
    later = now + timedelta(days=1)
    with scratch.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO site (code, name, id, created_at) VALUES ('N', 'North', :id, :t)"),
            {"id": _uuid_text(scratch, site), "t": now},
        )
        connection.execute(
            text(
                "INSERT INTO pathology_case (id, site_id, type, priority, status, version, "
                "requested_at, patient_mrn, patient_name, patient_sex, specimen_site, "
                "specimen_laterality, specimen_type, clinical_question, report_version, "
                "acknowledged_version, updated_at) VALUES (:id, :site, 'frozen_section', "
                "'urgent', 'requested', 1, :t, 'M1', 'P', 'unknown', 'breast', "
                "'not_applicable', '', 'q', 0, 0, :t)"
            ),
            {"id": _uuid_text(scratch, case), "site": _uuid_text(scratch, site), "t": now},
        )
        for name, case_text in [("named", str(case)), ("stray", "FS-2026-17"), ("none", None)]:
            connection.execute(
                text(
                    "INSERT INTO upload (id, site_id, filename, case_id, length, \"offset\", "
                    "status, created_at, expires_at) VALUES (:id, :site, :name, :case, 10, 0, "
                    "'receiving', :t, :later)"
                ),
                {"id": _uuid_text(scratch, uuid.uuid4()), "site": _uuid_text(scratch, site),
                 "name": name, "case": case_text, "t": now, "later": later},
            )  # fmt: skip
    scratch.migrate()
    with scratch.engine.connect() as connection:
        rows = dict(connection.execute(text("SELECT filename, case_id FROM upload")).all())
    assert uuid.UUID(str(rows["named"])) == case
    assert rows["stray"] is None and rows["none"] is None


@pytest.mark.postgres
def test_db_check_command_passes_on_both_backends() -> None:
    env = {**os.environ, "SLIDEBRIDGE_ENVIRONMENT": "development"}
    done = subprocess.run(
        [*SLIDEBRIDGE, "db", "check", "--postgres", POSTGRES_URL],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the migrations build the models' schema" in done.stdout
