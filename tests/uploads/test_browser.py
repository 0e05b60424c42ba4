"""The /upload page in Chromium: tus-js-client sends a real slide through a link that
drops several times; the page shows it verified and the slide is viewable."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from app.core.config import Settings
from app.core.security import hash_password
from app.main import create_app
from app.models.accounts import Role, Site, User
from app.services import accounts as crud
from benchmarks.shaped_link import CuttingProxy
from tests.browser import serve_asgi
from tests.conftest import PASSWORD, SECRET, SLIDES, SMALL_SVS
from tests.uploads.test_resume import wait_ready

pytestmark = pytest.mark.browser
#: Where the screenshot of the page is kept for a person to look at.
SCREENSHOT_DIR = Path(os.environ.get("SLIDEBRIDGE_SCREENSHOTS", "/tmp"))


@dataclass
class Hub:
    base: str
    token: str
    settings: Settings


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    settings = Settings(
        environment="test", secret_key=SECRET, data_dir=tmp_path / "data",
        build_processes=1, embedded_workers=1, job_poll_seconds=0.2, cookie_secure=False,
    )  # fmt: skip
    app = create_app(settings, run_workers=True)
    with serve_asgi(app) as base:
        db = app.state.db
        with db.write() as session:
            site = Site(code="NORTH", name="North Hospital")
            session.add(site)
            session.flush()
            user = User(
                username="tech_north", role=Role.technician, site_id=site.id,
                password_hash=hash_password(PASSWORD),
            )  # fmt: skip
            session.add(user)
            session.flush()
            from datetime import timedelta

            from app.models.accounts import TokenKind

            token, _ = crud.issue_token(
                session, user, TokenKind.bearer, timedelta(minutes=30), SECRET
            )
        yield Hub(base, token, settings)


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/upload")
    assert "/login" in page.url  # not signed in: the login form first, coming back here
    page.fill("#username", "tech_north")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("body[data-ready=true]")
    assert page.url.endswith("/upload")


def test_upload_page_resumes_through_a_cutting_link(browser: Browser, hub: Hub) -> None:
    data = SMALL_SVS.read_bytes()
    port = int(hub.base.rsplit(":", 1)[1])
    # A 2 MB/s link: on raw loopback Chromium's own instant retries of a cut request
    # (answered 423 or 409) would push megabytes into socket buffers before reading
    # the answer; over a real link the answer arrives within a round trip.
    proxy = CuttingProxy(port, cuts=3, cut_range=(200_000, 600_000), seed=11,
                         rate_bytes_per_s=2_000_000)  # fmt: skip
    with proxy.running() as via:
        context = browser.new_context()
        page = context.new_page()
        _sign_in(page, via)
        page.set_input_files("#files", str(SMALL_SVS))
        # Locators, not evaluated scripts: the page runs under its own CSP (no eval).
        page.wait_for_selector("#uploads li.done, #uploads li.failed", timeout=60_000)
        row = page.locator("#uploads li")
        assert "Received and verified" in row.inner_text(), row.inner_text()
        slide_id = row.get_attribute("data-slide-id")
        assert slide_id and row.locator("a").get_attribute("href") == f"/slides/{slide_id}"
        page.screenshot(path=str(SCREENSHOT_DIR / "slidebridge-upload-page.png"), full_page=True)
        context.close()
    assert proxy.cuts_done == 3
    # Each cut kept what had arrived: far less than a restart per cut would resend.
    assert proxy.bytes_up < 1.5 * len(data), proxy.bytes_up
    headers = {"Authorization": f"Bearer {hub.token}"}
    slide = wait_ready(hub.base, headers, slide_id)
    assert slide["status"] == "ready"
    assert slide["sha256"] == hashlib.sha256(data).hexdigest()
    assert httpx.get(f"{hub.base}/dzi/{slide_id}.dzi", headers=headers).status_code == 200


def test_upload_page_shows_why_a_file_was_refused(browser: Browser, hub: Hub) -> None:
    context = browser.new_context()
    page = context.new_page()
    _sign_in(page, hub.base)
    page.set_input_files("#files", str(SLIDES / "broken" / "broken.svs"))
    page.wait_for_selector("#uploads li.failed", timeout=30_000)
    text = page.locator("#uploads li.failed .state").inner_text()
    assert "Not uploaded" in text and "422" in text and "broken.svs" in text, text
    context.close()


def test_the_refusal_is_in_the_pages_language(browser: Browser, hub: Hub) -> None:
    """A Chinese browser reads the slide engine's reason in Chinese, the file's name kept."""
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    _sign_in(page, hub.base)
    page.set_input_files("#files", str(SLIDES / "broken" / "broken.svs"))
    page.wait_for_selector("#uploads li.failed", timeout=30_000)
    text = page.locator("#uploads li.failed .state").inner_text()
    assert "broken.svs：不是可读取的全切片图像格式" in text, text
    page.screenshot(path="/tmp/zh_upload_refused.png", full_page=True)
    context.close()


def test_a_reloaded_page_resumes_the_same_file(browser: Browser, hub: Hub) -> None:
    data = SMALL_SVS.read_bytes()
    port = int(hub.base.rsplit(":", 1)[1])
    proxy = CuttingProxy(port, cuts=0, cut_range=(1, 1), rate_bytes_per_s=400_000)
    with proxy.running() as via:
        context = browser.new_context()
        page = context.new_page()
        _sign_in(page, via)
        page.set_input_files("#files", str(SMALL_SVS))
        page.wait_for_selector("#uploads li .numbers:has-text('MB of')", timeout=30_000)
        page.wait_for_timeout(2000)  # about 0.8 MB are through at 400 kB/s
        page.reload()  # the technician's tablet reloads mid-upload
        page.wait_for_selector("body[data-ready=true]")
        assert page.locator("#unfinished").is_visible()
        assert "CMU-1-Small-Region.svs" in page.locator("#unfinished-list").inner_text()
        page.set_input_files("#files", str(SMALL_SVS))
        page.wait_for_selector("#uploads li.done, #uploads li.failed", timeout=60_000)
        assert "Received and verified" in page.locator("#uploads li").inner_text()
        context.close()
    # The second page sent only the rest (starting over would add the ~0.8 MB again).
    assert proxy.bytes_up < len(data) + 300_000, proxy.bytes_up
