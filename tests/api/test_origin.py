"""Cookie requests that change state must be same-origin, login and logout included;
bearer tokens are not affected (no browser sends one by itself)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.core.db import Database
from app.models.audit import AuditEvent
from tests.conftest import PASSWORD, World

EVIL = {"Origin": "https://evil.example"}
#: What a client that sends no Origin sends: httpx drops an empty header value, so the
#: client's default Origin is replaced by this one, which the hub treats as absent.
NO_ORIGIN = {"Origin": "null"}


def sign_in(client: TestClient, username: str = "tech_north") -> None:
    answer = client.post(
        "/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert answer.status_code == 303


def cross_site_events(db: Database) -> list[AuditEvent]:
    with db.read() as session:
        return list(
            session.exec(select(AuditEvent).where(AuditEvent.action == "auth.cross_site")).all()
        )


@pytest.mark.parametrize("headers", [EVIL, NO_ORIGIN], ids=["other origin", "no origin"])
def test_cookie_post_that_is_not_same_origin_is_refused(
    client: TestClient, world: World, db: Database, headers: dict[str, str]
) -> None:
    sign_in(client)
    refused = client.post("/api/cases", json={}, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("cross-site request refused")
    assert cross_site_events(db)
    # The same request from our own page gets past the check (to the body's validation).
    assert client.post("/api/cases", json={}).status_code == 422
    # Without Origin, Sec-Fetch-Site: same-origin says the same.
    fetch_site = {**NO_ORIGIN, "Sec-Fetch-Site": "same-origin"}
    assert client.post("/api/cases", json={}, headers=fetch_site).status_code == 422
    cross = {**NO_ORIGIN, "Sec-Fetch-Site": "cross-site"}
    assert client.post("/api/cases", json={}, headers=cross).status_code == 403
    # Reading is not changing: a cross-site GET is answered as usual (CORS keeps the body).
    assert client.get("/api/users/me", headers=EVIL).status_code == 200


def test_bearer_requests_need_no_origin(client: TestClient, world: World) -> None:
    headers = {**world.auth("tech_north"), **EVIL}
    assert client.post("/api/cases", json={}, headers=headers).status_code == 422


def test_login_csrf_is_refused(client: TestClient, world: World, db: Database) -> None:
    """Another site must not sign a victim's browser in as the attacker."""
    for headers in (EVIL, NO_ORIGIN):
        answer = client.post(
            "/login",
            data={"username": "tech_north", "password": PASSWORD},
            headers=headers,
            follow_redirects=False,
        )
        assert answer.status_code == 403
        assert "set-cookie" not in answer.headers
        assert "cross-site request refused" in answer.text
    assert cross_site_events(db)
    with db.read() as session:
        logins = session.exec(select(AuditEvent).where(AuditEvent.action == "auth.login")).all()
    assert logins == []  # refused before any password was checked


def test_logout_csrf_is_refused(client: TestClient, world: World) -> None:
    sign_in(client)
    answer = client.post("/logout", headers=EVIL, follow_redirects=False)
    assert answer.status_code == 403
    assert client.get("/api/users/me").status_code == 200  # still signed in
    assert client.post("/logout", follow_redirects=False).status_code == 303
    assert client.get("/api/users/me").status_code == 401


def test_a_proxy_origin_can_be_allowed(app: FastAPI, client: TestClient, world: World) -> None:
    """Behind a proxy that rewrites Host, the public origin is named in the settings."""
    public = {"Origin": "https://hub.example.org"}
    sign_in(client)
    assert client.post("/api/cases", json={}, headers=public).status_code == 403
    app.state.settings = app.state.settings.model_copy(
        update={"public_origins": ["https://hub.example.org"]}
    )
    assert client.post("/api/cases", json={}, headers=public).status_code == 422


def test_tus_patch_with_cookie_is_checked_too(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    sign_in(client)
    answer = client.post(
        "/api/uploads",
        headers={**EVIL, "Tus-Resumable": "1.0.0", "Upload-Length": "10"},
    )
    assert answer.status_code == 403
