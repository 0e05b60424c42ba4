"""Long-lived streams re-check their credential: a stream ends within 5 s of expiry,
revocation, sign-out, the user being disabled or the session going idle, with a
`signed-out` event the page acts on, and EventSource's reconnect is refused (401),
which stops it. Real HTTP (uvicorn), on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import col, select

from app.core.db import Database
from app.models.accounts import ApiToken, TokenKind, User
from app.models.audit import AuditEvent
from app.models.types import utcnow
from app.services import accounts as crud
from app.services.streams import SIGN_OUT_CODES
from tests.browser import serve_asgi
from tests.cases.conftest import create_case
from tests.cases.sse import SSE
from tests.conftest import PASSWORD, World

#: The bound the streams promise (Settings.stream_recheck_seconds is 2 s by default).
BOUND_SECONDS = 5.0


@pytest.fixture
def base(app: FastAPI, client: TestClient) -> Iterator[str]:
    with serve_asgi(app) as url:
        yield url


def session_cookie(client: TestClient, username: str) -> dict[str, str]:
    """A browser session of `username`, as the header a browser would send."""
    answer = client.post(
        "/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    cookie = client.cookies.get("slidebridge_session")
    client.cookies.clear()
    return {"Cookie": f"slidebridge_session={cookie}"}


def bearer(client: TestClient, username: str) -> dict[str, str]:
    answer = client.post("/api/auth/token", data={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def short_token(db: Database, world: World, username: str, seconds: float) -> dict[str, str]:
    with db.write() as session:
        token, _ = crud.issue_token(
            session, world.users[username], TokenKind.bearer, timedelta(seconds=seconds),
            "test-secret-key-that-is-long-enough",
        )  # fmt: skip
    return {"Authorization": f"Bearer {token}"}


def ends_signed_out(stream: SSE, reason: str) -> None:
    started = time.monotonic()
    frame = stream.next("signed-out", timeout=BOUND_SECONDS + 1)
    assert frame.data == {"reason": reason, "code": SIGN_OUT_CODES[reason]}
    assert stream.ended.wait(2), "the stream stayed open after its signed-out event"
    assert time.monotonic() - started <= BOUND_SECONDS + 1


def revoke(client: TestClient, headers: dict[str, str], **_: Any) -> str:
    assert client.post("/api/auth/revoke", headers=headers).status_code == 204
    return "token revoked"


def log_out(base: str, headers: dict[str, str], **_: Any) -> str:
    answer = httpx.post(f"{base}/logout", headers={**headers, "Origin": base})
    assert answer.status_code == 303
    return "token revoked"


def disable(client: TestClient, world: World, **_: Any) -> str:
    answer = client.post("/api/users/path_north/disable", headers=world.auth("admin"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["is_active"] is False
    return "user disabled"  # disabling also revokes every token


def flag_inactive(db: Database, **_: Any) -> str:
    """Only the user's flag, as another process or an older hub might leave it."""
    with db.write() as session:
        session.execute(
            update(User).where(col(User.username) == "path_north").values(is_active=False)
        )
    return "user disabled"


def go_idle(db: Database, **_: Any) -> str:
    long_ago = utcnow() - timedelta(hours=1)
    with db.write() as session:
        session.execute(update(ApiToken).values(last_used_at=long_ago))
    return "signed out after inactivity"


def expire(**_: Any) -> str:
    return "token expired"  # the token was issued 3 s long: nothing to do but wait


CASES: dict[str, tuple[str, Callable[..., str]]] = {
    "revoked": ("bearer", revoke),
    "signed out": ("cookie", log_out),
    "user disabled": ("bearer", disable),
    "user flag": ("cookie", flag_inactive),
    "idle": ("cookie", go_idle),
    "expired": ("short", expire),
}


@pytest.mark.parametrize("case", list(CASES))
def test_slide_stream_ends_when_the_credential_falls(
    case: str,
    base: str,
    client: TestClient,
    world: World,
    db: Database,
    north_slide: dict[str, Any],
) -> None:
    kind, fall = CASES[case]
    if kind == "cookie":
        headers = session_cookie(client, "path_north")
    elif kind == "short":
        headers = short_token(db, world, "path_north", 3.0)
    else:
        headers = bearer(client, "path_north")
    path = f"/api/slides/{north_slide['id']}/events"
    stream = SSE(base, path, headers)
    try:
        assert stream.status == 200
        stream.next("ready")
        reason = fall(client=client, base=base, headers=headers, world=world, db=db)
        ends_signed_out(stream, reason)
    finally:
        stream.close()
    # EventSource reconnects once and gets a 401, after which it stops for good.
    assert httpx.get(f"{base}{path}", headers=headers).status_code == 401
    with db.read() as session:
        details = session.exec(
            select(AuditEvent.detail).where(
                AuditEvent.action == "slide.live", col(AuditEvent.detail).startswith("stream ended")
            )
        ).all()
    assert details == [f"stream ended: {reason}"]


@pytest.mark.parametrize("path", ["/api/cases/{case}/events", "/api/sites/NORTH/events",
                                  "/api/cases/events"])  # fmt: skip
def test_case_streams_end_when_the_token_is_revoked(
    path: str, base: str, client: TestClient, world: World
) -> None:
    case = create_case(client, world)
    headers = bearer(client, "surgeon_north")
    stream = SSE(base, path.format(case=case["id"]), headers)
    try:
        assert stream.status == 200
        stream.next("ready")
        revoke(client, headers)
        ends_signed_out(stream, "token revoked")
    finally:
        stream.close()


def test_no_case_event_reaches_a_revoked_stream(
    base: str, client: TestClient, world: World
) -> None:
    """What the review found: new cases with patient names kept arriving after revocation."""
    headers = bearer(client, "surgeon_north")
    stream = SSE(base, "/api/sites/NORTH/events", headers)
    try:
        stream.next("ready")
        revoke(client, headers)
        stream.next("signed-out", timeout=BOUND_SECONDS + 1)
        create_case(client, world, patient_name="After Revocation")
        time.sleep(1.0)
        names = []
        while not stream.frames.empty():
            frame = stream.frames.get()
            names.append(frame.data.get("case", {}).get("patient_name"))
        assert "After Revocation" not in names
    finally:
        stream.close()


def test_streams_per_user_are_capped(
    app: FastAPI, client: TestClient, world: World, db: Database
) -> None:
    app.state.streams.settings = app.state.settings.model_copy(update={"streams_per_user": 2})
    headers = world.auth("surgeon_north")
    with serve_asgi(app) as url:
        streams = [SSE(url, "/api/sites/NORTH/events", headers) for _ in range(2)]
        try:
            for stream in streams:
                assert stream.status == 200
                stream.next("ready")
            refused = httpx.get(f"{url}/api/cases/events", headers=headers)
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) > 0
            # Another user is not affected by this user's streams.
            other = SSE(url, "/api/sites/NORTH/events", world.auth("tech_north"))
            assert other.status == 200
            other.close()
        finally:
            for stream in streams:
                stream.close()
    with db.read() as session:
        denied = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "case.live", AuditEvent.outcome == "denied"
            )
        ).all()
    assert denied and "live streams are open" in (denied[0].detail or "")


def test_a_long_upload_body_ends_when_the_token_is_revoked(
    base: str, client: TestClient, world: World, app: FastAPI
) -> None:
    """A tus PATCH streaming slowly is refused (401) within seconds of revocation; what
    was made durable before stays (the offset), as for a client that dropped."""
    app.state.settings = app.state.settings.model_copy(update={"upload_commit_bytes": 64 * 1024})
    headers = bearer(client, "tech_north")
    tus = {"Tus-Resumable": "1.0.0"}
    created = client.post(
        "/api/uploads/", headers={**tus, **headers, "Upload-Length": str(64 * 1024 * 1024)}
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    revoked_at: list[float] = []
    sent_at: list[float] = []

    def slow_body() -> Iterator[bytes]:
        for index in range(600):  # 64 KiB every 0.05 s: a 10 Mbit/s link, for 30 s at most
            if index == 40:
                revoke(client, headers)
                revoked_at.append(time.monotonic())
            yield b"\0" * 64 * 1024
            sent_at.append(time.monotonic())
            time.sleep(0.05)

    try:
        answer = httpx.patch(
            f"{base}{location}",
            headers={**tus, **headers, "Upload-Offset": "0",
                     "Content-Type": "application/offset+octet-stream"},
            content=slow_body(),
            timeout=60,
        )  # fmt: skip
    except httpx.TransportError:
        answer = None  # the hub closed the connection while this side was still sending
    if answer is not None:
        assert answer.status_code == 401 and answer.json() == {"detail": "token revoked"}
    # The hub stopped taking the body within the bound.
    assert sent_at[-1] - revoked_at[0] <= BOUND_SECONDS + 1
    offset = client.head(location, headers={**tus, **world.auth("tech_north")})
    assert 40 * 64 * 1024 <= int(offset.headers["upload-offset"]) < 64 * 1024 * 1024
