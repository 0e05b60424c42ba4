"""Chromium: a page whose live stream ends because the session fell goes to the login
form, which says why (and does not reconnect in a loop); the operating-room screen in
kiosk mode stays signed in, idle, but only there; a result screen whose stream is
refused for good says so and stops asking. Screenshots: /tmp/slidebridge-signed-out.png,
/tmp/slidebridge-or-kiosk.png, /tmp/slidebridge-refused-or.png and -cases.png."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from app.core.config import Settings
from app.core.db import Database
from app.main import create_app
from app.models.accounts import ApiToken
from app.models.types import utcnow
from tests.browser import serve_asgi
from tests.conftest import PASSWORD, World

pytestmark = pytest.mark.browser


@pytest.fixture
def base(settings: Settings, world: World) -> Iterator[str]:
    with serve_asgi(create_app(settings.model_copy(update={"cookie_secure": False}))) as url:
        yield url


def signed_in(browser: Browser, base: str, username: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page


def test_a_page_whose_stream_ends_goes_to_the_login_form(
    browser: Browser, base: str, client: TestClient, world: World
) -> None:
    page = signed_in(browser, base, "surgeon_north")
    page.goto(f"{base}/or/NORTH")
    page.wait_for_selector("#link[data-connected=true]")
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if "/events" in r.url else None)
    disabled = client.post("/api/users/surgeon_north/disable", headers=world.auth("admin"))
    assert disabled.status_code == 200
    # The stream's re-check ends it within seconds; its `signed-out` event sends the
    # page to the login form, coming back to the screen afterwards.
    page.wait_for_url(f"{base}/login?next=%2For%2FNORTH&why=disabled", timeout=10000)
    assert "Your account was disabled" in page.locator(".error").inner_text()
    page.screenshot(path="/tmp/slidebridge-signed-out.png")
    time.sleep(2)
    assert len(streams) <= 1  # at most one reconnect attempt, then none
    page.context.close()


def test_the_kiosk_screen_stays_signed_in_there_only(
    browser: Browser, base: str, db: Database, settings: Settings
) -> None:
    page = signed_in(browser, base, "tech_north")
    page.goto(f"{base}/or/NORTH")
    page.wait_for_selector("#link[data-connected=true]")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button#kiosk")
    page.wait_for_selector("span#kiosk")
    page.wait_for_selector("#link[data-connected=true]")
    # Nobody touches the screen for longer than the idle timeout: it stays signed in.
    long_ago = utcnow() - timedelta(seconds=settings.session_idle_seconds + 60)
    with db.write() as session:
        session.execute(update(ApiToken).values(last_used_at=long_ago))
    time.sleep(settings.stream_recheck_seconds * 2 + 1)
    assert page.url == f"{base}/or/NORTH"
    assert page.locator("#link").get_attribute("data-connected") == "true"
    assert page.locator("#nav a").all_inner_texts() == ["Operating room NORTH"]
    page.screenshot(path="/tmp/slidebridge-or-kiosk.png")
    # Anywhere else, the kiosk session is refused: to the login form.
    page.goto(f"{base}/cases")
    page.wait_for_url(f"{base}/login?next=/cases")
    page.context.close()


@pytest.mark.parametrize(
    "screen", ["/or/SOUTH", "/cases/00000000-0000-4000-8000-000000000000/result"]
)
def test_a_result_screen_refused_for_good_says_so_and_stops_asking(
    browser: Browser, base: str, screen: str
) -> None:
    """Another site's operating room, or a case that is not there: the stream is refused
    (404), and the screen says so once instead of asking again every 15 s for as long as
    it stays on (each try an audited refusal)."""
    page = signed_in(browser, base, "surgeon_north")
    streams: list[str] = []
    page.on("request", lambda r: streams.append(r.url) if "/events" in r.url else None)
    page.goto(f"{base}{screen}")
    expect(page.locator("#message")).to_contain_text("Not found, or not shared", timeout=15_000)
    # Not "Connecting…" for ever.
    expect(page.locator("#link")).to_have_text("Not live", timeout=10_000)
    page.wait_for_timeout(1_000)  # a reopen would come 1 s after the refusal
    asked = len(streams)
    page.wait_for_timeout(4_000)
    assert len(streams) == asked <= 2, streams  # the page's stream and the browser's retry
    page.screenshot(path=f"/tmp/slidebridge-refused-{screen.split('/')[1]}.png")
    page.context.close()
