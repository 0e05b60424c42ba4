"""The web pages' tests: the real slide folder, and one browser context per test."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext

from tests.tiler.conftest import shared_slides as shared_slides


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A desktop-sized window on the viewer; bypass_csp only for Playwright's own injected
    scripts, the page keeps its CSP. (A page test may define its own.)"""
    ctx = browser.new_context(viewport={"width": 1400, "height": 850}, bypass_csp=True)
    yield ctx
    ctx.close()
