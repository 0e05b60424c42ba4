"""First run, as a newcomer meets it: `slidebridge serve` (what `make run` starts) on an
empty hub prints a one-time link; Chromium opens it, creates the first site and admin,
lands on the start page signed in, and the link is dead afterwards.
Screenshots: /tmp/slidebridge-setup.png, /tmp/slidebridge-setup-error.png."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from tests.hub_process import SLIDEBRIDGE, HubProcess

pytestmark = pytest.mark.browser
LINK = re.compile(r"(http://\S+/setup\?token=\S+)")


@pytest.fixture
def fresh_hub(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    hub = HubProcess(tmp_path / "data")
    env = {**hub.env, "SLIDEBRIDGE_COOKIE_SECURE": "false"}
    process = subprocess.Popen(
        [str(SLIDEBRIDGE), "serve", "--port", str(hub.port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        link = None
        for line in process.stdout:
            found = LINK.search(line)
            if found:
                link = found.group(1)
                break
        assert link is not None, "serve printed no setup link"
        yield process, link.replace("localhost", "127.0.0.1")
    finally:
        process.kill()
        process.wait()


def test_the_setup_link_creates_the_first_site_and_admin_once(
    browser: Browser, fresh_hub: tuple[subprocess.Popen[str], str]
) -> None:
    _, link = fresh_hub
    base = link.split("/setup")[0]
    for _ in range(100):  # the link is printed just before the server listens
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.HTTPError:
            pass
    page = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
    page.goto(link)
    page.screenshot(path="/tmp/slidebridge-setup.png")
    page.fill("#site_code", "NORTH")
    page.fill("#site_name", "North island hospital")
    page.fill("#full_name", "Ana Admin")
    page.fill("#username", "ana")
    page.fill("#password", "a long password")
    page.fill("#password2", "a long passwore")
    page.click("button[type=submit]")
    assert "The two passwords differ" in page.locator(".error").inner_text()
    assert page.input_value("#site_code") == "NORTH"  # what was typed stays
    page.screenshot(path="/tmp/slidebridge-setup-error.png")
    page.fill("#password", "a long password")
    page.fill("#password2", "a long password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.wait_for_selector("#who:not(:empty)")
    assert page.locator("#who").inner_text().startswith("Ana Admin · admin")
    # The link is dead: for this browser and any other.
    page.goto(link)
    assert "no longer valid" in page.locator("main").inner_text()
    assert httpx.get(link).status_code == 404
    again = httpx.post(
        f"{base}/setup",
        data={"token": link.split("token=")[1], "site_code": "EVIL", "site_name": "x",
              "username": "mallory", "password": "x" * 12, "password2": "x" * 12},
        headers={"Origin": base},
    )  # fmt: skip
    assert again.status_code == 404
    # The admin signs in with the password chosen on the page.
    token = httpx.post(
        f"{base}/api/auth/token", data={"username": "ana", "password": "a long password"}
    )
    assert token.status_code == 200
    page.context.close()
