"""Live case events: pushed, caught up after a reconnect, site-scoped; and slides
uploaded with tus into a case join it. How fast they arrive is measured by
`python -m benchmarks.frozen_section`."""

from __future__ import annotations

import base64
import time

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.browser import serve_asgi
from tests.cases.conftest import REPORT, create_case, ready_case
from tests.cases.sse import SSE
from tests.conftest import PASSWORD, SMALL_SVS, World


def test_signing_is_pushed_within_a_second(app: FastAPI, client: TestClient, world: World) -> None:
    case = ready_case(client, world)
    with serve_asgi(app) as base:
        own = SSE(base, f"/api/cases/{case['id']}/events", world.auth("surgeon_north"))
        site = SSE(base, "/api/sites/NORTH/events", world.auth("surgeon_north"))
        mine = SSE(base, "/api/cases/events", world.auth("path_north"))
        try:
            for stream in (own, site, mine):
                assert stream.status == 200
                stream.next("ready")
            client.post(f"/api/cases/{case['id']}/claim", headers=world.auth("path_north"))
            response = client.post(
                f"/api/cases/{case['id']}/report",
                json={**REPORT, "password": PASSWORD},
                headers=world.auth("path_north"),
            )
            assert response.status_code == 200
            for stream in (own, site, mine):
                frame = stream.until(lambda c: c["status"] == "reported", timeout=15)
                assert frame.id is not None
                assert frame.data["case"]["report"]["diagnosis"] == REPORT["diagnosis"]
        finally:
            for stream in (own, site, mine):
                stream.close()


def test_reconnect_with_last_event_id_catches_up(
    app: FastAPI, client: TestClient, world: World
) -> None:
    case = ready_case(client, world)
    with serve_asgi(app) as base:
        first = SSE(base, f"/api/cases/{case['id']}/events", world.auth("surgeon_north"))
        first.next("ready")
        client.post(f"/api/cases/{case['id']}/claim", headers=world.auth("path_north"))
        seen = first.until(lambda c: c["status"] == "in_review")
        first.close()  # the link drops; meanwhile the report is signed
        client.post(
            f"/api/cases/{case['id']}/report",
            json={**REPORT, "password": PASSWORD},
            headers=world.auth("path_north"),
        )
        headers = {**world.auth("surgeon_north"), "Last-Event-ID": str(seen.id)}
        again = SSE(base, f"/api/cases/{case['id']}/events", headers)
        try:
            again.next("ready")
            frame = again.next("case", timeout=15)
            assert frame.data["case"]["status"] == "reported"
            assert frame.id is not None and seen.id is not None and frame.id > seen.id
        finally:
            again.close()
        # Without Last-Event-ID nothing is replayed: the page loads the case itself.
        fresh = SSE(base, f"/api/cases/{case['id']}/events", world.auth("surgeon_north"))
        try:
            hello = fresh.next("ready")
            assert hello.data["last_event_id"] >= frame.id
            assert fresh.frames.empty()
        finally:
            fresh.close()


def test_streams_keep_the_site_boundary(app: FastAPI, client: TestClient, world: World) -> None:
    case = create_case(client, world)
    south = create_case(client, world, "tech_south")
    with serve_asgi(app) as base:
        for path, user in (
            (f"/api/cases/{case['id']}/events", "tech_south"),
            ("/api/sites/NORTH/events", "tech_south"),
            ("/api/sites/NORTH/events", "path_south"),
            ("/api/sites/NOWHERE/events", "admin"),
        ):
            stream = SSE(base, path, world.auth(user))
            assert stream.status == 404, (path, user)
            stream.close()
        # A pathologist's all-cases stream carries only the sites covered.
        mine = SSE(base, "/api/cases/events", {**world.auth("path_south"), "Last-Event-ID": "0"})
        try:
            mine.next("ready")
            frame = mine.next("case", timeout=15)
            assert frame.data["case"]["id"] == south["id"]
            assert mine.frames.empty()
        finally:
            mine.close()


def test_a_site_answers_as_its_stream_does(client: TestClient, world: World) -> None:
    """`GET /api/sites/{code}`: what a screen checks before it opens a refused stream again
    (`liveEvents`), so it must refuse exactly whom the stream refuses."""
    for code, user in (("NORTH", "tech_south"), ("NORTH", "path_south"), ("NOWHERE", "admin")):
        answer = client.get(f"/api/sites/{code}", headers=world.auth(user))
        assert answer.status_code == 404, (code, user)
    for user in ("tech_north", "surgeon_north", "path_north", "admin"):
        answer = client.get("/api/sites/NORTH", headers=world.auth(user))
        assert answer.status_code == 200, user
        assert answer.json() == {"code": "NORTH", "name": world.sites["NORTH"].name}


def _tus(base: str, world: World, user: str, case_id: str) -> httpx.Response:
    data = SMALL_SVS.read_bytes()
    meta = ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}"
        for key, value in {"filename": SMALL_SVS.name, "case": case_id}.items()
    )
    headers = {**world.auth(user), "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
               "Upload-Metadata": meta}  # fmt: skip
    with httpx.Client(base_url=base, timeout=60) as http:
        created = http.post("/api/uploads/", headers=headers)
        if created.status_code != 201:
            return created
        return http.patch(
            created.headers["location"],
            content=data,
            headers={**world.auth(user), "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                     "Content-Type": "application/offset+octet-stream"},
        )  # fmt: skip


def test_a_tus_upload_into_the_case_makes_it_ready(
    app: FastAPI, client: TestClient, world: World
) -> None:
    case = create_case(client, world)
    south = create_case(client, world, "tech_south")
    with serve_asgi(app) as base:
        stream = SSE(base, f"/api/cases/{case['id']}/events", world.auth("path_north"))
        try:
            stream.next("ready")
            done = _tus(base, world, "tech_north", case["id"])
            assert done.status_code == 204, done.text
            frame = stream.until(lambda c: c["status"] == "ready", timeout=15)
            assert frame.data["case"]["slides"] == [done.headers["slide-id"]]
        finally:
            stream.close()
        # The north technician names the south case: refused before a byte is sent.
        refused = _tus(base, world, "tech_north", south["id"])
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"] == "no such case at the upload's site"
        time.sleep(1.0)  # four passes of the ingest loop
        body = client.get(f"/api/cases/{south['id']}", headers=world.auth("admin")).json()
        assert body["slides"] == [] and body["status"] == "requested"


def _begin_upload(client: TestClient, world: World, user: str, case_id: str) -> int:
    """A tus upload naming the case, created but not yet sent: it is `receiving`.

    Answers the creation's status."""
    meta = ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}"
        for key, value in {"filename": SMALL_SVS.name, "case": case_id}.items()
    )
    created = client.post(
        "/api/uploads/",
        headers={**world.auth(user), "Tus-Resumable": "1.0.0", "Upload-Length": "1000",
                 "Upload-Metadata": meta},
    )  # fmt: skip
    return created.status_code


def test_only_the_case_sites_uploads_move_it(
    app: FastAPI, client: TestClient, world: World
) -> None:
    from app.services.cases.ingest import reconcile

    case = create_case(client, world)  # a NORTH case
    # Another site cannot move it by naming its id: the upload is refused at creation.
    assert _begin_upload(client, world, "tech_south", case["id"]) == 422
    assert _begin_upload(client, world, "tech_south", "not-a-case-id") == 422
    reconcile(app.state.db, app.state.live)
    body = client.get(f"/api/cases/{case['id']}", headers=world.auth("admin")).json()
    assert body["status"] == "requested"
    assert _begin_upload(client, world, "tech_north", case["id"]) == 201
    reconcile(app.state.db, app.state.live)
    body = client.get(f"/api/cases/{case['id']}", headers=world.auth("admin")).json()
    assert body["status"] == "slides_uploading"
