"""Sessions and accounts: the idle timeout, the operating-room kiosk, disabling a user (API
and command line; tiles stop within their re-check time), and the settings' defaults."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import select

from app.core.config import DEFAULT_SECRET, Settings
from app.core.db import Database
from app.main import create_app
from app.models.accounts import ApiToken, TokenKind, User
from app.models.audit import AuditEvent
from app.models.types import utcnow
from tests.conftest import PASSWORD, World
from tests.test_cli import run


def sign_in(client: TestClient, username: str) -> None:
    answer = client.post(
        "/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text


def session_row(db: Database) -> ApiToken:
    with db.read() as session:
        row = session.exec(
            select(ApiToken).where(ApiToken.kind == TokenKind.session, ApiToken.revoked_at == None)  # noqa: E711
        ).one()
    return row


def age_session(db: Database, seconds: float) -> None:
    with db.write() as session:
        session.execute(update(ApiToken).values(last_used_at=utcnow() - timedelta(seconds=seconds)))


def test_an_idle_session_is_over_and_use_keeps_it(
    client: TestClient, world: World, db: Database, settings: Settings
) -> None:
    sign_in(client, "path_north")
    idle = settings.session_idle_seconds
    # Used a while ago (less than the timeout): a request records the use.
    age_session(db, idle - 5)
    assert client.get("/api/users/me").status_code == 200
    assert (utcnow() - (session_row(db).last_used_at or utcnow())).total_seconds() < 5
    # Unused for longer than the timeout: over.
    age_session(db, idle + 1)
    answer = client.get("/api/users/me")
    assert answer.status_code == 401
    assert answer.json() == {"detail": "signed out after inactivity"}
    # A page sends the browser to the login form.
    page = client.get("/cases", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/cases"
    # Bearer tokens have their own short lifetime and no idle timeout.
    with db.write() as session:
        session.execute(update(ApiToken).values(last_used_at=utcnow() - timedelta(days=1)))
    assert client.get("/api/users/me", headers=world.auth("path_north")).status_code == 200


def test_kiosk_stays_signed_in_on_its_screen_only(
    client: TestClient, world: World, db: Database, settings: Settings
) -> None:
    sign_in(client, "surgeon_north")
    me = client.get("/api/users/me").json()
    assert me["kiosk"] is False
    assert client.post("/api/auth/kiosk").status_code == 204
    assert client.get("/api/users/me").json()["kiosk"] is True
    with db.read() as session:
        rows = session.exec(select(ApiToken).where(ApiToken.kind == TokenKind.session)).all()
    assert len([row for row in rows if row.revoked_at is None]) == 1  # the ordinary one revoked
    kiosk = next(row for row in rows if row.revoked_at is None)
    assert kiosk.kiosk_site_id == world.sites["NORTH"].id
    lifetime = kiosk.expires_at - kiosk.created_at
    assert abs(lifetime - timedelta(hours=settings.kiosk_hours)) < timedelta(seconds=1)
    # No idle timeout.
    age_session(db, settings.session_idle_seconds * 10)
    assert client.get("/or/NORTH").status_code == 200
    assert client.get("/api/cases", params={"site": "NORTH"}).status_code == 200
    # Anything else is refused, another site's screen included.
    for path in ("/api/slides", "/cases", "/or/SOUTH", "/upload"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code in {401, 303}, path
    refused = client.get("/api/slides")
    assert refused.json() == {"detail": "this screen is signed in for operating room NORTH only"}


def test_kiosk_is_for_the_sites_people(client: TestClient, world: World) -> None:
    sign_in(client, "path_north")
    assert client.post("/api/auth/kiosk").status_code == 403
    answer = client.post("/api/auth/kiosk", headers=world.auth("surgeon_north"))
    assert answer.status_code == 401  # a bearer token is no screen


def test_admin_disables_and_enables_a_user(
    client: TestClient, world: World, db: Database, north_slide: dict[str, Any], app: FastAPI
) -> None:
    app.state.tile_access.settings = app.state.settings.model_copy(
        update={"tile_access_seconds": 2.0}
    )
    headers = world.auth("path_north")
    tile = f"/dzi/{north_slide['id']}_files/0/0_0.jpeg"
    assert client.get(tile, headers=headers).status_code == 200
    assert client.post("/api/users/path_north/disable", headers=headers).status_code == 403
    answer = client.post("/api/users/path_north/disable", headers=world.auth("admin"))
    assert answer.status_code == 200 and answer.json()["is_active"] is False
    assert client.get("/api/slides", headers=headers).status_code == 401
    # Tiles re-use their check for tile_access_seconds, then stop.
    started = time.monotonic()
    while client.get(tile, headers=headers).status_code == 200:
        assert time.monotonic() - started < 2.0 + 1.0, "tiles went on after the bound"
        time.sleep(0.2)
    # Disabled: the right password does not sign in.
    token = client.post("/api/auth/token", data={"username": "path_north", "password": PASSWORD})
    assert token.status_code == 401
    assert client.post("/api/users/admin/disable", headers=world.auth("admin")).status_code == 409
    assert client.post("/api/users/nobody/disable", headers=world.auth("admin")).status_code == 422
    enabled = client.post("/api/users/path_north/enable", headers=world.auth("admin"))
    assert enabled.status_code == 200 and enabled.json()["is_active"] is True
    token = client.post("/api/auth/token", data={"username": "path_north", "password": PASSWORD})
    assert token.status_code == 200
    with db.read() as session:
        actions = session.exec(
            select(AuditEvent.action).where(AuditEvent.username == "admin")
        ).all()
    assert {"user.disable", "user.enable"} <= set(actions)


def test_disable_from_the_command_line(settings: Settings, world: World, db: Database) -> None:
    result = run(settings, "user", "disable", "tech_north")
    assert result.exit_code == 0, result.output
    assert "disabled" in result.output
    with db.read() as session:
        user = session.exec(select(User).where(User.username == "tech_north")).one()
        live = session.exec(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at == None)  # noqa: E711
        ).all()
    assert not user.is_active and live == []
    assert run(settings, "user", "enable", "tech_north").exit_code == 0
    missing = run(settings, "user", "disable", "nobody")
    assert missing.exit_code == 2 and "no user 'nobody'" in missing.output


def test_defaults_a_review_asked_for(settings: Settings) -> None:
    defaults = Settings(environment="development")
    assert defaults.site_quota_bytes is not None
    assert defaults.session_idle_seconds <= 3600
    assert defaults.streams_per_user >= 1 and defaults.docs_enabled
    production = Settings(environment="production", secret_key="x" * 40)
    assert not production.docs_enabled


def test_the_development_secret_is_said_loudly(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="app.main"):
        create_app(Settings(environment="development", data_dir=tmp_path), migrate=False)
    assert any("DEVELOPMENT secret key" in record.getMessage() for record in caplog.records)
    assert Settings(environment="development", data_dir=tmp_path).secret_key == DEFAULT_SECRET
