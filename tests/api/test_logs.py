"""Patient identifiers and SQL parameters never reach the server's log, even when the
database fails in the middle of a request that carries them (HARDENING.md: patient data).

A real `slidebridge serve` process, its output captured as an operator would see it;
the database is made to refuse every write of a case (a trigger), on SQLite and
PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from app.api.server_errors import ServerErrors
from app.core.config import Settings
from app.core.db import Database
from tests.cases.conftest import REQUEST
from tests.conftest import PASSWORD, Backend
from tests.hub_process import HubProcess, token_of

MRN, NAME = "MRN-7730219", "Ximena Quarterbridge"
SQLITE_TRIGGER = [
    f"CREATE TRIGGER refuse_{verb} BEFORE {verb} ON pathology_case "
    "BEGIN SELECT RAISE(ABORT, 'the disk is on fire'); END"
    for verb in ("INSERT", "UPDATE")
]
POSTGRES_TRIGGER = [
    "CREATE FUNCTION refuse_cases() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'the disk is on fire'; END $$",
    "CREATE TRIGGER refuse_cases BEFORE INSERT OR UPDATE ON pathology_case "
    "FOR EACH ROW EXECUTE FUNCTION refuse_cases()",
]
POSTGRES_UNDO = ["DROP TRIGGER refuse_cases ON pathology_case", "DROP FUNCTION refuse_cases()"]


def _execute(settings: Settings, statements: list[str]) -> None:
    db = Database(settings.sqlalchemy_url)
    with db.engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
    db.dispose()


def test_a_database_error_leaves_no_patient_data_in_the_log(
    settings: Settings, backend: Backend, tmp_path: Path
) -> None:
    log = tmp_path / "hub.log"
    env = {"SLIDEBRIDGE_DATABASE_URL": backend.url} if backend.url else {}
    hub = HubProcess(settings.data_dir, env=env, log=log)
    hub.run("site", "add", "NORTH", "--name", "North")
    hub.run("user", "add", "tech", "--role", "technician", "--site", "NORTH",
            "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    hub.start()
    postgres = backend.name == "postgresql"
    try:
        auth = {"Authorization": f"Bearer {token_of(hub)}"}
        case = httpx.post(f"{hub.base}/api/cases", json=REQUEST, headers=auth)
        assert case.status_code == 201, case.text
        _execute(settings, POSTGRES_TRIGGER if postgres else SQLITE_TRIGGER)
        answers = [
            httpx.post(
                f"{hub.base}/api/cases",
                json={**REQUEST, "patient_mrn": MRN, "patient_name": NAME},
                headers=auth,
            ),
            httpx.patch(
                f"{hub.base}/api/cases/{case.json()['id']}",
                json={"patient_mrn": MRN, "patient_name": NAME},
                headers=auth,
            ),
        ]
    finally:
        hub.kill()
        if postgres:
            _execute(settings, POSTGRES_UNDO)
    text = log.read_text(errors="replace")
    for answer in answers:
        assert answer.status_code == 500, answer.text
        assert "incident" in answer.json()["detail"]
        assert MRN not in answer.text and NAME not in answer.text
    # Both failures are in the log, each with its incident number and exception type...
    for answer in answers:
        incident = answer.json()["detail"].split()[-1].rstrip(")")
        assert f"incident {incident}" in text, text
    assert "sqlalchemy.exc." in text and "message withheld" in text, text
    # ... and neither the values sent nor anything else of the patient is.
    for secret in (MRN, NAME, REQUEST["patient_mrn"], REQUEST["patient_name"], "disk is on fire"):
        assert secret not in text, secret


def test_any_exception_is_logged_without_its_message(caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: Request) -> Response:
        try:
            {}["x"]
        except KeyError as error:
            raise ValueError(f"cannot file the case of {NAME}") from error
        raise AssertionError

    app = Starlette(routes=[Route("/broken", broken)])
    app.add_middleware(ServerErrors)
    with caplog.at_level(logging.ERROR), TestClient(app) as client:
        answer = client.get("/broken")
    assert answer.status_code == 500 and NAME not in answer.text
    assert "builtins.ValueError" in caplog.text and "builtins.KeyError" in caplog.text
    assert "test_logs.py" in caplog.text  # the stack is there
    assert NAME not in caplog.text
