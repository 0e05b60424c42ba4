"""/docs and /redoc: from the locally installed npm packages, under a CSP that allows
scripts from this origin only, for signed-in users; off in production. Chromium loads
both with every request off this machine refused, and no CSP violation."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, Route, expect

from app.core.config import Settings
from app.main import create_app
from tests.browser import serve_asgi
from tests.conftest import PASSWORD, World


def test_docs_need_sign_in_and_are_our_own_pages(client: TestClient, world: World) -> None:
    for path in ("/docs", "/redoc"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == f"/login?next={path}"
    assert client.get("/openapi.json").status_code == 401
    client.post("/login", data={"username": "path_north", "password": PASSWORD})
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-eval" not in policy
        assert "http" not in page.text  # no CDN, no other host
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
            assert client.get(asset).status_code == 200, asset
    schema = client.get("/openapi.json").json()
    assert schema["info"]["title"] == "SlideBridge"
    assert "/api/users/{username}/disable" in schema["paths"]


def test_docs_are_off_in_production(tmp_path: pytest.TempPathFactory, settings: Settings) -> None:
    off = create_app(settings.model_copy(update={"api_docs": False}))
    with TestClient(off, base_url="https://testserver") as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404


@pytest.fixture
def docs_site(settings: Settings, world: World) -> Iterator[str]:
    app: FastAPI = create_app(settings.model_copy(update={"cookie_secure": False}))
    with serve_asgi(app) as base:
        yield base


def offline_page(browser: Browser, base: str) -> tuple[Page, list[str], list[str]]:
    """A signed-in page whose requests off this machine fail; what went wrong is listed."""
    context = browser.new_context()
    refused: list[str] = []
    problems: list[str] = []

    def only_here(route: Route) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", only_here)
    page = context.new_page()
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{base}/login")
    page.fill("#username", "path_north")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page, refused, problems


def test_swagger_ui_works_offline_under_the_csp(browser: Browser, docs_site: str) -> None:
    page, refused, problems = offline_page(browser, docs_site)
    page.goto(f"{docs_site}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=20000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/cases" in path for path in paths)
    # "Try it out" with the session cookie: GET /api/users/me answers this user.
    page.locator("#operations-auth-me_api_users_me_get .opblock-summary").click()
    page.locator("#operations-auth-me_api_users_me_get button.try-out__btn").click()
    page.locator("#operations-auth-me_api_users_me_get button.execute").click()
    live = page.locator("#operations-auth-me_api_users_me_get .live-responses-table pre").first
    expect(live).to_contain_text('"path_north"', timeout=15000)
    assert refused == [] and problems == [], (refused, problems)
    page.screenshot(path="/tmp/slidebridge-docs.png")
    page.context.close()


def test_redoc_works_offline_under_the_csp(browser: Browser, docs_site: str) -> None:
    page, refused, problems = offline_page(browser, docs_site)
    page.goto(f"{docs_site}/redoc")
    page.wait_for_selector("h1:has-text('SlideBridge')", timeout=20000)
    page.get_by_text("/api/cases/{case_id}/claim").first.wait_for(state="attached", timeout=20000)
    # ReDoc 2 always shows Redocly's logo from their CDN: the CSP stops it before any
    # request leaves (nothing was refused by the offline route) and ReDoc hides the image.
    logo = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    assert refused == [] and all(logo in problem for problem in problems), (refused, problems)
    page.screenshot(path="/tmp/slidebridge-redoc.png")
    page.context.close()
