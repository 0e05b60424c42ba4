"""Several web processes behind Debian's nginx, on PostgreSQL and Redis (or PostgreSQL
alone), one data directory: events cross processes, a process killed mid-stream or
mid-upload loses nothing, a revocation on one process counts on the other, the audit
records the client behind the proxy."""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from app.models.audit import AuditEvent
from app.models.uploads import Upload
from app.services.uploads.store import part_path
from tests.cases.conftest import REQUEST
from tests.conftest import SMALL_SVS
from tests.scaleout.cluster import START_SECONDS, Cluster, start_cluster
from tests.scaleout.resuming_sse import ResumingStream
from tests.uploads.tus import metadata

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.xdist_group("scaleout")]

TUS = {"Tus-Resumable": "1.0.0"}
#: A bound for one request on a machine shared with other test runs (not a speed check).
TIMEOUT = 120.0


class _Http:
    """httpx's module functions with `TIMEOUT` (its 5 s default fails under heavy load)."""

    @staticmethod
    def get(url: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(url, timeout=TIMEOUT, **kwargs)

    @staticmethod
    def post(url: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(url, timeout=TIMEOUT, **kwargs)


_http = _Http()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """nginx, two web processes, PostgreSQL and Redis."""
    yield from start_cluster(tmp_path_factory.mktemp("cluster"), redis=True)


@pytest.fixture(scope="module")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """nginx and two web processes on PostgreSQL alone (events by LISTEN/NOTIFY)."""
    yield from start_cluster(tmp_path_factory.mktemp("pg-cluster"), redis=False)


@pytest.fixture
def alive(cluster: Cluster) -> Cluster:
    """Both web processes up (a test before may have killed one), and nginx sending
    requests to each again: it leaves a process that failed out for `fail_timeout`
    (5 s), and a test that kills the other one meanwhile would find no live upstream."""
    for hub in cluster.web:
        if hub.process is None or hub.process.poll() is not None:
            hub.start(START_SECONDS)
    for hub in cluster.web:
        deadline = time.monotonic() + 30
        while True:
            answer = _http.get(f"{cluster.nginx.base}/healthz", verify=False)
            if answer.headers.get("x-upstream", "").endswith(f":{hub.port}"):
                break
            assert time.monotonic() < deadline, f"nginx never sent a request to {hub.base}"
            time.sleep(0.2)
    return cluster


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _create_case(base: str, token: str, **kwargs: Any) -> str:
    answer = _http.post(f"{base}/api/cases", json=REQUEST, headers=_bearer(token), **kwargs)
    assert answer.status_code == 201, answer.text
    case_id: str = answer.json()["id"]
    return case_id


def _case_ids(stream: ResumingStream) -> set[str]:
    return {frame.data["case"]["id"] for frame in stream.events("case")}


@pytest.mark.parametrize("backend", ["redis", "postgresql"])
def test_an_event_through_one_process_reaches_a_stream_on_the_other(
    backend: str, request: pytest.FixtureRequest
) -> None:
    cluster: Cluster = request.getfixturevalue("cluster" if backend == "redis" else "pg_cluster")
    one, other = cluster.web
    token = cluster.token()
    stream = ResumingStream(other.base, "/api/sites/NORTH/events", _bearer(token))
    try:
        stream.wait(lambda s: s.events("ready"))
        case_id = _create_case(one.base, token)
        stream.wait(lambda s: case_id in _case_ids(s))
        # And a slide's annotation event, drawn through one process, seen on the other.
        path = cluster.token("path")
        slide_id = _slide(cluster)
        live = ResumingStream(one.base, f"/api/slides/{slide_id}/events", _bearer(path))
        live.wait(lambda s: s.events("ready"))
        feature = {"type": "Feature", "properties": {"name": "margin"},
                   "geometry": {"type": "Point", "coordinates": [10, 20]}}  # fmt: skip
        drawn = _http.post(f"{other.base}/api/slides/{slide_id}/annotations", json=feature,
                           headers=_bearer(path))  # fmt: skip
        assert drawn.status_code == 201, drawn.text
        live.wait(lambda s: s.events("annotation"))
        live.close()
    finally:
        stream.close()


_slides: dict[int, str] = {}


def _slide(cluster: Cluster) -> str:
    """SMALL_SVS registered on the cluster's site (once per cluster)."""
    key = id(cluster)
    if key not in _slides:
        hub = cluster.web[0]
        output = hub.run_output("slide", "add", str(SMALL_SVS), "--site", "NORTH")
        found = re.search(r"slide ([0-9a-f-]{36})", output)
        assert found, output
        _slides[key] = found.group(1)
    return _slides[key]


def test_kill_9_mid_stream_the_stream_catches_up_through_the_other(alive: Cluster) -> None:
    cluster = alive
    token = cluster.token()
    stream = ResumingStream(cluster.nginx.base, "/api/sites/NORTH/events", _bearer(token))
    created: list[str] = []
    try:
        stream.wait(lambda s: s.events("ready"))
        serving = cluster.process_on(int(stream.upstreams[0].rsplit(":", 1)[1]))
        survivor = next(hub for hub in cluster.web if hub is not serving)
        for _ in range(5):  # live, across processes
            created.append(_create_case(survivor.base, token))
        stream.wait(lambda s: set(created) <= _case_ids(s))
        serving.kill()
        for _ in range(10):  # while the stream is down, then after it reconnected
            created.append(_create_case(cluster.nginx.base, token, verify=False))
        stream.wait(lambda s: set(created) <= _case_ids(s))
        assert len(stream.upstreams) >= 2
        assert stream.upstreams[-1].endswith(f":{survivor.port}")
        ids = [frame.id for frame in stream.events("case") if frame.id is not None]
        assert ids == sorted(ids)  # catch-up and live frames in the order of the events
    finally:
        stream.close()


def test_a_viewers_stream_catches_up_by_last_event_id_through_the_other(alive: Cluster) -> None:
    """Annotation changes drawn while the viewer's process was dead arrive on reconnect."""
    cluster = alive
    slide_id = _slide(cluster)
    path = _bearer(cluster.token("path"))
    stream = ResumingStream(cluster.nginx.base, f"/api/slides/{slide_id}/events", path)
    drawn: list[str] = []

    def draw(base: str) -> None:
        feature = {"type": "Feature", "properties": {"name": "margin"},
                   "geometry": {"type": "Point", "coordinates": [len(drawn), 20]}}  # fmt: skip
        answer = _http.post(f"{base}/api/slides/{slide_id}/annotations", json=feature,
                            headers=path, verify=False)  # fmt: skip
        assert answer.status_code == 201, answer.text
        drawn.append(answer.json()["features"][0]["id"])

    def seen(s: ResumingStream) -> set[str]:
        return {frame.data["feature"]["id"] for frame in s.events("annotation")}

    try:
        stream.wait(lambda s: s.events("ready"))
        serving = cluster.process_on(int(stream.upstreams[0].rsplit(":", 1)[1]))
        survivor = next(hub for hub in cluster.web if hub is not serving)
        for _ in range(3):
            draw(survivor.base)
        stream.wait(lambda s: set(drawn) <= seen(s))
        serving.kill()
        for _ in range(5):  # some while no stream is open at all
            draw(survivor.base)
        stream.wait(lambda s: set(drawn) <= seen(s))
        assert stream.upstreams[-1].endswith(f":{survivor.port}")
        ids = [frame.id for frame in stream.events("annotation")]
        assert None not in ids and ids == sorted(ids) and len(ids) == len(set(ids)) == len(drawn)
    finally:
        stream.close()


def test_kill_9_mid_upload_resumes_through_the_other_byte_identical(alive: Cluster) -> None:
    cluster = alive
    data = SMALL_SVS.read_bytes()
    headers = {**TUS, **_bearer(cluster.token())}
    with cluster.client(headers=headers) as client:
        described = {"Upload-Length": str(len(data)), "Upload-Metadata": metadata(filename="a.svs")}
        created = client.post("/api/uploads/", headers=described)
        assert created.status_code == 201, created.text
        location = created.headers["Location"]
        upload_id = location.rsplit("/", 1)[1]
        part = part_path(Path(cluster.web[0].env["SLIDEBRIDGE_DATA_DIR"]), uuid.UUID(upload_id))
        killed: list[str] = []

        def slow_body() -> Iterator[bytes]:
            # A slow link: the PATCH is still streaming when its process dies.
            for at in range(0, len(data), 32 * 1024):
                yield data[at : at + 32 * 1024]
                time.sleep(0.02)

        def killer() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not killed:
                time.sleep(0.05)
                offset = _offset(cluster, upload_id)
                holder = cluster.holding(part)
                if holder is not None and offset >= 256 * 1024:
                    holder.kill()
                    killed.append(holder.base)

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        body = {"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
        try:
            cut = client.patch(location, headers=body, content=slow_body())
            assert cut.status_code >= 500, cut.text  # nginx: the upstream went away
        except httpx.HTTPError:
            pass  # or the connection itself broke
        thread.join(60)
        assert killed, "no web process was killed mid-upload"
        head = client.head(location)
        assert head.status_code == 200
        offset = int(head.headers["Upload-Offset"])
        assert 0 < offset < len(data)  # resumes from what was made durable, not from zero
        rest = client.patch(location, headers={**body, "Upload-Offset": str(offset)},
                            content=data[offset:])  # fmt: skip
        assert rest.status_code == 204, rest.text
        assert rest.headers["X-Upstream"].rsplit(":", 1)[1] != killed[0].rsplit(":", 1)[1]
        slide = client.get(f"/api/slides/{rest.headers['Slide-Id']}").json()
    sha = hashlib.sha256(data).hexdigest()
    assert slide["sha256"] == sha
    stored = Path(cluster.web[0].env["SLIDEBRIDGE_DATA_DIR"]) / "slides" / sha[:2] / sha[2:4]
    assert (stored / f"{sha}.svs").read_bytes() == data


def _offset(cluster: Cluster, upload_id: str) -> int:
    with cluster.db.read() as session:
        row = session.get(Upload, uuid.UUID(upload_id))
        return row.offset if row is not None else 0


def test_a_token_revoked_on_one_process_stops_streams_and_tiles_on_the_other(
    alive: Cluster,
) -> None:
    cluster = alive
    one, other = cluster.web
    slide_id = _slide(cluster)
    token = cluster.token("path")
    tile = f"/dzi/{slide_id}_files/8/0_0.jpeg"
    assert _http.get(f"{other.base}{tile}", headers=_bearer(token)).status_code == 200
    stream = ResumingStream(other.base, f"/api/slides/{slide_id}/events", _bearer(token))
    try:
        stream.wait(lambda s: s.events("ready"))
        revoked = _http.post(f"{one.base}/api/auth/revoke", headers=_bearer(token))
        assert revoked.status_code == 204
        stream.wait(lambda s: s.events("signed-out"))
        assert stream.events("signed-out")[0].data["reason"] == "token revoked"
        stream.wait(lambda s: 401 in s.statuses)  # the reconnect is refused
        deadline = time.monotonic() + 30  # tile_access_seconds (5 s) is the documented bound
        while _http.get(f"{other.base}{tile}", headers=_bearer(token)).status_code == 200:
            assert time.monotonic() < deadline, "tiles never stopped"
            time.sleep(0.25)
        assert _http.get(f"{other.base}{tile}", headers=_bearer(token)).status_code == 401
    finally:
        stream.close()


def test_two_processes_on_one_data_directory_serve_one_slide(alive: Cluster) -> None:
    """Uploaded through one process, stored once on the shared filesystem, the same
    tiles from both."""
    cluster = alive
    one, other = cluster.web
    headers = {**TUS, **_bearer(cluster.token())}
    data = SMALL_SVS.read_bytes()[:-1] + b"\x01"  # another file than the other tests'
    created = _http.post(f"{one.base}/api/uploads/", content=data, headers={
        **headers, "Upload-Length": str(len(data)),
        "Content-Type": "application/offset+octet-stream"})  # fmt: skip
    assert created.status_code == 201, created.text
    slide_id = created.headers["Slide-Id"]
    token = cluster.token("path")
    for z, col_, row in ((0, 0, 0), (9, 1, 1), (11, 2, 3)):
        path = f"/dzi/{slide_id}_files/{z}/{col_}_{row}.jpeg"
        here = _http.get(f"{one.base}{path}", headers=_bearer(token))
        there = _http.get(f"{other.base}{path}", headers=_bearer(token))
        assert here.status_code == there.status_code == 200
        assert here.content == there.content
    sha = hashlib.sha256(data).hexdigest()
    slides = Path(one.env["SLIDEBRIDGE_DATA_DIR"]) / "slides"
    assert len([p for p in slides.rglob(f"{sha}*") if p.is_file()]) == 1


def test_the_audit_records_the_client_not_the_proxy(alive: Cluster) -> None:
    """nginx connects from 127.0.0.1 (trusted); the client from 127.0.0.2. A forged
    X-Forwarded-For is overwritten by nginx and ignored from anyone but the proxy."""
    cluster = alive
    transport = httpx.HTTPTransport(local_address="127.0.0.2", verify=False)
    forged = {"X-Forwarded-For": "203.0.113.9"}
    marker = f"who-{uuid.uuid4().hex[:8]}"
    form = {"username": marker, "password": "wrong"}
    with httpx.Client(
        base_url=cluster.nginx.base, transport=transport, headers=forged, timeout=TIMEOUT
    ) as client:
        assert client.post("/api/auth/token", data=form).status_code == 401
    direct = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(
        base_url=cluster.web[1].base, transport=direct, headers=forged, timeout=TIMEOUT
    ) as client:
        assert client.post("/api/auth/token", data=form).status_code == 401
    with cluster.db.read() as session:
        rows = session.exec(select(AuditEvent).where(col(AuditEvent.username) == marker)).all()
    assert len(rows) >= 1
    assert {row.client for row in rows} == {"127.0.0.2"}


def test_nginx_serves_the_static_files_and_hides_node_modules(alive: Cluster) -> None:
    with alive.client() as client:
        script = client.get("/static/vendor/openseadragon/openseadragon.min.js")
        assert script.status_code == 200 and "X-Upstream" not in script.headers  # from disk
        assert script.headers["X-Content-Type-Options"] == "nosniff"
        assert client.get("/static/shell/shell.js").status_code == 200
        for hidden in ("/static/node_modules/openseadragon/package.json", "/static/package.json"):
            assert client.get(hidden).status_code == 404
        plain = _http.get(f"http://127.0.0.1:{alive.nginx.http_port}/login")
        assert plain.status_code == 301 and plain.headers["location"].startswith("https://")
