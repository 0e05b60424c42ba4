"""The start page in Chromium: signing in lands on it, it lists the user's slides with
their status and thumbnails, filters them, and opens the viewer. Its header and links
are the shell's (tests/static/test_shell.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext

from tests.static.viewer_site import ViewerSite, running_site

SCREENSHOT = Path("/tmp/slidebridge-home.png")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ViewerSite]:
    with running_site(tmp_path_factory.mktemp("home")) as running:
        yield running


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    yield context
    context.close()


def test_sign_in_lands_on_the_slide_list(site: ViewerSite, context: BrowserContext) -> None:
    thumbnails: list[int] = []
    context.on(
        "response",
        lambda r: thumbnails.append(r.status) if r.url.endswith("/thumbnail") else None,
    )
    page = site.login(context, "tech_north")
    assert page.url == f"{site.base}/"
    page.wait_for_selector("#slides li")
    names = page.locator("#slides .name").all_inner_texts()
    assert sorted(names) == sorted(
        ["CMU-1-Small-Region.svs", "crowded.svs", "boxes.tiff", "again.svs"]
    )
    failed = page.locator("#slides li", has_text="again.svs")
    assert "failed" in failed.inner_text() and "the scanner file ends early" in failed.inner_text()
    assert "no calibration" in page.locator("#slides li", has_text="boxes.tiff").inner_text()
    assert "0.499 µm/px" in page.locator("#slides li", has_text="crowded.svs").inner_text()
    page.wait_for_load_state("networkidle")
    assert thumbnails and set(thumbnails) == {200}  # one per slide that did not fail
    page.screenshot(path=str(SCREENSHOT))

    page.fill("#filter", "boxes")
    assert page.locator("#slides .name").all_inner_texts() == ["boxes.tiff"]
    assert page.locator("#message").inner_text() == "1 of 4 slides"
    page.click("#slides a")
    page.wait_for_url(f"{site.base}/slides/{site.slides['boxes']}")


def test_signed_out_visitor_is_sent_to_login(site: ViewerSite, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(f"{site.base}/")
    assert page.url == f"{site.base}/login?next=/"
