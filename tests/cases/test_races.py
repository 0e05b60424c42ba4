"""Concurrent actions on one case, through a real HTTP server and real threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.browser import serve_asgi
from tests.cases.conftest import REPORT, ready_case
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
