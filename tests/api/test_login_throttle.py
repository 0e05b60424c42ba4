"""Sign-in throttling: per account and per client address, 429 with Retry-After, audited,
shared through the database; another user's right password is still answered during a
flood of wrong ones. How fast (tiles and sign-ins during a flood) is measured by
`python -m benchmarks.login_flood`."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import select

from app.core.config import Settings
from app.core.db import Database
from app.models.audit import AuditEvent
from app.models.throttle import LoginThrottle
from app.models.types import utcnow
from app.services import throttle
from tests.browser import serve_asgi
from tests.conftest import PASSWORD, World


def token_answer(client: TestClient, username: str, password: str) -> httpx.Response:
    return client.post("/api/auth/token", data={"username": username, "password": password})


def test_wrong_passwords_lock_the_account_with_retry_after(
    client: TestClient, world: World, settings: Settings, db: Database
) -> None:
    limit = settings.login_failures_per_account
    for _ in range(limit):
        assert token_answer(client, "path_north", "wrong password!").status_code == 401
    refused = token_answer(client, "path_north", "wrong password!")
    assert refused.status_code == 429
    retry = int(refused.headers["retry-after"])
    assert 0 < retry <= settings.login_lockout_seconds
    assert "too many failed sign-ins for this account" in refused.json()["detail"]
    # Locked: even the right password waits (an attacker must not learn it is right).
    assert token_answer(client, "path_north", PASSWORD).status_code == 429
    # Another user from the same address is not affected.
    assert token_answer(client, "path_south", PASSWORD).status_code == 200
    # The login page says it too, with the same status and header.
    page = client.post("/login", data={"username": "path_north", "password": PASSWORD})
    assert page.status_code == 429 and "try again in" in page.text
    assert int(page.headers["retry-after"]) > 0
    with db.read() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.username == "path_north")).all()
    denied = [event.detail for event in events if event.outcome == "denied"]
    assert denied.count("wrong user name or password") == limit
    assert any("too many failed sign-ins" in (detail or "") for detail in denied)


def end_locks(db: Database) -> None:
    """As if the locks had run out: in the table, and in this process's memory of them."""
    with db.write() as session:
        session.execute(update(LoginThrottle).values(locked_until=utcnow()))
    throttle.forget_known_locks()


def test_the_lock_ends_doubles_and_a_right_password_clears_it(
    client: TestClient, world: World, settings: Settings, db: Database
) -> None:
    limit = settings.login_failures_per_account
    for _ in range(limit):
        token_answer(client, "tech_north", "wrong password!")
    key = "account:tech_north"

    def lock_seconds() -> float:
        with db.read() as session:
            row = session.get(LoginThrottle, key)
        assert row is not None and row.locked_until is not None
        return (row.locked_until - row.last_failure_at).total_seconds()

    assert lock_seconds() == pytest.approx(settings.login_lockout_seconds, abs=1)
    # The lock runs out (moved into the past here): one more failure locks for twice as long.
    end_locks(db)
    assert token_answer(client, "tech_north", "wrong password!").status_code == 401
    assert lock_seconds() == pytest.approx(2 * settings.login_lockout_seconds, abs=1)
    end_locks(db)
    assert token_answer(client, "tech_north", PASSWORD).status_code == 200
    with db.read() as session:
        assert session.get(LoginThrottle, key) is None  # cleared
    # Failures forgotten after the window: an old row no longer counts.
    for _ in range(limit - 1):
        token_answer(client, "tech_north", "wrong password!")
    long_ago = utcnow() - timedelta(seconds=settings.login_window_seconds + 1)
    with db.write() as session:
        session.execute(update(LoginThrottle).values(last_failure_at=long_ago))
    assert token_answer(client, "tech_north", "wrong password!").status_code == 401
    assert token_answer(client, "tech_north", PASSWORD).status_code == 200


def test_one_address_trying_many_names_is_locked(
    app: FastAPI, client: TestClient, world: World, db: Database
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"login_failures_per_address": 4})
    for name in ("nobody1", "nobody2", "nobody3", "nobody4"):
        assert token_answer(client, name, "guess guess").status_code == 401
    refused = token_answer(client, "nobody5", "guess guess")
    assert refused.status_code == 429
    assert "for this address" in refused.json()["detail"]
    with db.read() as session:
        keys = set(session.exec(select(LoginThrottle.key)).all())
    assert "address:testclient" in keys and "account:nobody1" in keys


def test_the_lock_is_shared_across_processes_through_the_database(
    client: TestClient, world: World, settings: Settings, db: Database
) -> None:
    """A second app on the same database (another process of the hub) sees the lock."""
    from app.main import create_app

    for _ in range(settings.login_failures_per_account):
        token_answer(client, "path_north", "wrong password!")
    other = create_app(settings, migrate=False)
    with TestClient(other, base_url="https://testserver") as second:
        assert token_answer(second, "path_north", PASSWORD).status_code == 429


@pytest.fixture
def live(app: FastAPI, client: TestClient) -> Iterator[str]:
    with serve_asgi(app) as base:
        yield base


def test_a_flood_of_wrong_passwords_leaves_another_users_sign_in_working(
    live: str, world: World, settings: Settings
) -> None:
    """16 threads send wrong passwords for one account over real HTTP; meanwhile another
    user signs in with the right password, five times, and is answered 200 each time."""
    stop = threading.Event()
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def flood() -> None:
        with httpx.Client(base_url=live, timeout=30) as http:
            while not stop.is_set():
                answer = http.post(
                    "/api/auth/token", data={"username": "path_north", "password": "wrong!!!!!"}
                )
                with lock:
                    statuses[answer.status_code] += 1

    threads = [threading.Thread(target=flood, daemon=True) for _ in range(16)]
    for thread in threads:
        thread.start()
    try:
        with httpx.Client(base_url=live, timeout=30) as http:
            while sum(statuses.values()) < 50:
                stop.wait(0.05)
            for _ in range(5):
                answer = http.post(
                    "/api/auth/token", data={"username": "path_south", "password": PASSWORD}
                )
                assert answer.status_code == 200, answer.text
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    # Wrong passwords were checked until the lock, then refused without a check.
    assert 0 < statuses[401] <= settings.login_failures_per_account + 16
    assert statuses[429] > statuses[401]
    assert set(statuses) <= {401, 429}


def test_a_steady_trickle_of_typos_from_one_address_never_locks_it(
    app: FastAPI, client: TestClient, world: World, db: Database
) -> None:
    """Many people behind one hospital address mistype now and then: each failure comes
    after the bucket drained a little more than one, so the address never fills."""
    settings = app.state.settings = app.state.settings.model_copy(
        update={"login_failures_per_address": 8}
    )
    spacing = settings.login_window_seconds / settings.login_failures_per_address * 1.2
    for attempt in range(3 * settings.login_failures_per_address):
        with db.write() as session:  # as if `spacing` seconds had passed since the last one
            session.execute(
                update(LoginThrottle).values(last_failure_at=utcnow() - timedelta(seconds=spacing))
            )
        answer = token_answer(client, f"typist{attempt}", "wrong password!")
        assert answer.status_code == 401, (attempt, answer.text)
    with db.read() as session:
        row = session.get(LoginThrottle, "address:testclient")
    assert row is not None and row.failures < 2 and row.locked_until is None
