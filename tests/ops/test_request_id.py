"""Request ids: a trusted proxy's `X-Request-ID` or our own, answered, in the audit rows
of the request, and in the JSON log lines of a real `slidebridge serve`."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.core.config import Settings
from app.core.db import Database
from app.main import create_app
from app.models.audit import AuditEvent
from tests.conftest import PASSWORD, World
from tests.hub_process import SLIDEBRIDGE, HubProcess


def _audit(db: Database, action: str) -> list[AuditEvent]:
    with db.read() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


def test_a_client_cannot_choose_its_request_id(
    client: TestClient, world: World, db: Database, north_slide: dict[str, Any]
) -> None:
    response = client.get(
        f"/dzi/{north_slide['id']}.dzi",
        headers={**world.auth("path_north"), "X-Request-ID": "someone-elses-request"},
    )
    assert response.status_code == 200
    rid = response.headers["x-request-id"]
    assert rid != "someone-elses-request" and len(rid) == 32
    [event] = _audit(db, "slide.open")
    assert event.request_id == rid
    found = client.get("/api/audit", params={"request_id": rid}, headers=world.auth("admin"))
    assert [item["action"] for item in found.json()["items"]] == ["slide.open"]
    assert client.get("/healthz").headers["x-request-id"] != rid  # one per request


@pytest.mark.parametrize(
    ("offered", "kept"),
    [("6f1c0a9e2b7d4c3a8e5f0b1d2c3a4e5f", True), ("bad id with spaces", False),
     ("x" * 65, False)],
)  # fmt: skip
def test_a_trusted_proxy_names_the_request_and_the_client(
    settings: Settings, world: World, north_slide: dict[str, Any], offered: str, kept: bool
) -> None:
    proxied = settings.model_copy(update={"forwarded_allow_ips": "testclient"})
    app = create_app(proxied)
    with TestClient(app, base_url="https://testserver") as client:
        response = client.get(
            f"/dzi/{north_slide['id']}.dzi",
            headers={**world.auth("path_north"), "X-Request-ID": offered,
                     "X-Forwarded-For": "203.0.113.7"},
        )  # fmt: skip
    assert response.status_code == 200
    assert (response.headers["x-request-id"] == offered) is kept
    [event] = _audit(app.state.db, "slide.open")
    assert event.request_id == response.headers["x-request-id"]
    assert event.client == "203.0.113.7"  # the client's address, not the proxy's


def test_json_logs_carry_the_request_id(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data")
    hub.env["SLIDEBRIDGE_LOG_FORMAT"] = "json"
    hub.run("site", "add", "NORTH", "--name", "North")
    hub.run("user", "add", "tech", "--role", "technician", "--site", "NORTH",
            "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    log = tmp_path / "serve.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [str(SLIDEBRIDGE), "serve", "--port", str(hub.port)], env=hub.env,
            stdout=subprocess.DEVNULL, stderr=sink,
        )  # fmt: skip
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{hub.base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            # From 127.0.0.1, the default trusted proxy address: its id is kept.
            response = httpx.post(
                f"{hub.base}/api/auth/token",
                data={"username": "tech", "password": "wrong password"},
                headers={"X-Request-ID": "req-from-nginx-1"},
            )
            assert response.status_code == 401
            assert response.headers["x-request-id"] == "req-from-nginx-1"
        finally:
            process.terminate()
            process.wait(30)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines, log.read_text()
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    [mine] = [line for line in access if line.get("request_id") == "req-from-nginx-1"]
    assert (mine["method"], mine["path"], mine["status"]) == ("POST", "/api/auth/token", 401)
    assert {"time", "level", "message"} <= set(mine)
    db = Database(f"sqlite:///{tmp_path / 'data' / 'slidebridge.db'}")
    try:
        refused = _audit(db, "auth.token")
        assert [event.request_id for event in refused] == ["req-from-nginx-1"]
    finally:
        db.dispose()
