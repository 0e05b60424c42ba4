"""Bearer tokens, the login page and its session cookie: issue, use, expire, revoke."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update

from app.core.db import Database
from app.models.accounts import ApiToken
from app.models.types import utcnow
from tests.conftest import PASSWORD, World


def token_for(client: TestClient, username: str, password: str = PASSWORD) -> str:
    response = client.post("/api/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    return str(body["access_token"])


def test_token_from_password_form_works(client: TestClient, world: World) -> None:
    token = token_for(client, "tech_north")
    me = client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["username"] == "tech_north"
    assert me.json()["site"] == "NORTH"


def test_bad_password_and_unknown_user_are_401_and_audited(
    client: TestClient, world: World
) -> None:
    for username, password in (("tech_north", "wrong password!"), ("nobody", PASSWORD)):
        response = client.post("/api/auth/token", data={"username": username, "password": password})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "access_token" not in response.json()
    events = client.get(
        "/api/audit",
        params={"action": "auth.token", "outcome": "denied"},
        headers=world.auth("admin"),
    ).json()
    assert {event["username"] for event in events["items"]} == {"tech_north", "nobody"}


def test_missing_or_garbage_token_is_401(client: TestClient, world: World) -> None:
    assert client.get("/api/slides").status_code == 401
    assert client.get("/api/slides", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_expired_token_is_refused(client: TestClient, world: World, db: Database) -> None:
    token = token_for(client, "tech_north")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/slides", headers=headers).status_code == 200
    with db.write() as session:
        session.exec(update(ApiToken).values(expires_at=utcnow()))  # type: ignore[call-overload]
    response = client.get("/api/slides", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "token expired"}


def test_revoked_token_is_refused(client: TestClient, world: World) -> None:
    for method, path in (("POST", "/api/auth/revoke"), ("DELETE", "/api/auth/token")):
        headers = {"Authorization": f"Bearer {token_for(client, 'path_north')}"}
        assert client.get("/api/slides", headers=headers).status_code == 200
        assert client.request(method, path, headers=headers).status_code == 204
        response = client.get("/api/slides", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": "token revoked"}


def test_login_page_is_plain_html(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/login">' in page.text
    assert "http" not in page.text.split("<body>")[1]  # no external assets
    assert "default-src 'none'" in page.headers["content-security-policy"]


def test_login_sets_secure_httponly_cookie_that_authenticates(
    client: TestClient, world: World
) -> None:
    response = client.post(
        "/login",
        data={"username": "path_north", "password": PASSWORD, "next": "/api/users/me"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/api/users/me"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie
    me = client.get("/api/users/me")
    assert me.status_code == 200 and me.json()["username"] == "path_north"
    # A session cookie is not a bearer token.
    session_value = client.cookies.get("slidebridge_session")
    assert session_value
    as_bearer = client.get("/api/users/me", headers={"Authorization": f"Bearer {session_value}"})
    assert as_bearer.status_code == 401
    client.post("/logout", follow_redirects=False)
    assert not client.cookies.get("slidebridge_session")
    # The old cookie, replayed after logout, is revoked on the server.
    replay = client.get("/api/users/me", headers={"Cookie": f"slidebridge_session={session_value}"})
    assert replay.status_code == 401
    assert replay.json() == {"detail": "token revoked"}


def test_login_failure_and_open_redirect(client: TestClient, world: World) -> None:
    bad = client.post("/login", data={"username": "path_north", "password": "nope nope"})
    assert bad.status_code == 401
    assert "wrong user name or password" in bad.text
    assert "set-cookie" not in bad.headers
    response = client.post(
        "/login",
        data={"username": "path_north", "password": PASSWORD, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"  # the start page, never the other site
