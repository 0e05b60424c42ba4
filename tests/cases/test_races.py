"""Concurrent actions on one case, through a real HTTP server and real threads."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from unittest.mock import patch

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import col

from app.models.cases import Case
from app.services.cases import service as case_service
from app.services.cases import views
from app.services.live import TOPIC
from tests.browser import serve_asgi
from tests.cases.conftest import REPORT, REQUEST, ready_case
from tests.conftest import PASSWORD, World

ROUNDS = 4


def race(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Start every call at the same instant (a barrier), answer their responses in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_claims_one_wins(app: FastAPI, client: TestClient, world2: World) -> None:
    world = world2
    with serve_asgi(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        for _ in range(ROUNDS):
            case = ready_case(client, world)
            url = f"/api/cases/{case['id']}/claim"
            a, b = race([
                lambda url=url: http.post(url, headers=world.auth("path_north")),
                lambda url=url: http.post(url, headers=world.auth("path_north2")),
            ])  # fmt: skip
            assert sorted([a.status_code, b.status_code]) == [200, 409], (a.text, b.text)
            winner = (a if a.status_code == 200 else b).json()["claimed_by"]
            final = client.get(f"/api/cases/{case['id']}", headers=world.auth("admin")).json()
            assert final["claimed_by"] == winner
            assert [e["kind"] for e in final["timeline"]].count("claim") == 1


def test_report_against_cancel_one_wins(app: FastAPI, client: TestClient, world: World) -> None:
    with serve_asgi(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        for _ in range(ROUNDS):
            case = ready_case(client, world)
            prefix = f"/api/cases/{case['id']}"
            assert (
                client.post(f"{prefix}/claim", headers=world.auth("path_north")).status_code == 200
            )
            report, cancel = race([
                lambda prefix=prefix: http.post(
                    f"{prefix}/report", json={**REPORT, "password": PASSWORD},
                    headers=world.auth("path_north"),
                ),
                lambda prefix=prefix: http.post(
                    f"{prefix}/cancel", headers=world.auth("surgeon_north")
                ),
            ])  # fmt: skip
            codes = sorted([report.status_code, cancel.status_code])
            assert codes == [200, 409], (report.text, cancel.text)
            final = client.get(prefix, headers=world.auth("admin")).json()
            if report.status_code == 200:
                assert final["status"] == "reported" and final["report"] is not None
            else:
                assert final["status"] == "cancelled" and final["reports"] == []


def test_snapshots_of_one_case_leave_in_the_order_they_were_read(
    app: FastAPI, client: TestClient, world: World
) -> None:
    """The ingest loop moving a case on and a range crossing a percent each send the case
    from their own thread. One held up between reading its snapshot and sending it must
    not let a newer snapshot overtake it: the screens would go back ("arriving 1 %" then
    "0 %"; CI saw it under load). Here the first thread is held up on purpose."""
    created = client.post("/api/cases", json=REQUEST, headers=world.auth("tech_north"))
    assert created.status_code == 201, created.text
    case_id = uuid.UUID(created.json()["id"])
    db, hub = app.state.db, app.state.live
    versions: list[int] = []

    def sent(body: dict[str, Any]) -> None:
        if body["k"] == str(case_id):
            versions.append(json.loads(body["m"].split("data: ", 1)[1])["case"]["version"])

    hub.bus.on(TOPIC, sent)
    snapshot, read, go = views.snapshot, threading.Event(), threading.Event()

    def held_up(session: Any, key: uuid.UUID) -> Any:
        public = snapshot(session, key)
        if threading.current_thread().name == "held-up":
            read.set()
            go.wait(10)
        return public

    def change_and_send() -> None:
        with db.write() as session:
            session.execute(
                update(Case).where(col(Case.id) == case_id).values(version=col(Case.version) + 1)
            )
        case_service.publish(db, hub, case_id, None)

    with patch.object(views, "snapshot", held_up):
        first = threading.Thread(
            target=case_service.publish, args=(db, hub, case_id, None), name="held-up"
        )
        first.start()
        assert read.wait(10)
        second = threading.Thread(target=change_and_send)
        second.start()
        time.sleep(0.5)  # time enough for the newer snapshot to be sent, were it free to
        go.set()
        first.join(10)
        second.join(10)
    assert len(versions) == 2 and versions[0] < versions[1], versions
