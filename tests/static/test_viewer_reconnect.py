"""The viewer's live stream in Chromium when the hub refuses it with an HTTP error (a 502
while a web process behind nginx restarts): the browser's EventSource gives up for good
on such an answer, so `liveEvents` opens it again, after a growing pause, and another
pathologist's annotation arrives without a reload; a user signed out meanwhile goes to
the login form instead, as before. Screenshot:
/tmp/slidebridge-viewer-reconnected.png."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Route, expect

from tests.static.test_viewer import SHOTS, open_viewer, state
from tests.static.viewer_site import ViewerSite, running_site

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("viewer")]
STREAMS = "**/api/slides/*/events"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ViewerSite]:
    with running_site(tmp_path_factory.mktemp("viewer-reconnect")) as running:
        yield running


class Gateway:
    """What nginx answers the page's stream requests: 502 to the first `refuse`, then the
    hub's own answer. Records when each request came."""

    def __init__(self, refuse: int) -> None:
        self.refuse = refuse
        self.refused: list[float] = []
        self.passed: list[float] = []

    def __call__(self, route: Route) -> None:
        if len(self.refused) < self.refuse:
            self.refused.append(time.monotonic())
            route.fulfill(status=502, content_type="text/html", body="<h1>502 Bad Gateway</h1>")
        else:
            self.passed.append(time.monotonic())
            route.continue_()


def test_a_refused_stream_is_opened_again_and_changes_arrive_live(
    site: ViewerSite, context: BrowserContext
) -> None:
    site.clear("cmu")
    gateway = Gateway(refuse=2)
    context.route(STREAMS, gateway)
    # open_viewer waits (10 s) for the stream's `ready`: never, without a reopen.
    page = open_viewer(site, context, "path_north", "cmu")
    assert len(gateway.refused) == 2 and len(gateway.passed) == 1
    # A pause before each reopen, doubled after the second refusal: no tight loop.
    assert gateway.refused[1] - gateway.refused[0] >= 0.8
    assert gateway.passed[0] - gateway.refused[1] >= 1.8

    ring = [[1000, 1000], [1400, 1000], [1400, 1400], [1000, 1400], [1000, 1000]]
    added = site.client.post(
        f"/api/slides/{site.slides['cmu']}/annotations",
        json={"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
              "properties": {"objectType": "annotation"}},
        headers=site.auth("path_second"),
    )  # fmt: skip
    assert added.status_code == 201, added.text
    expect(page.locator("#annotation-count")).to_have_text("1", timeout=10_000)
    assert state(page, "store.items.size") == 1
    assert len(gateway.passed) == 1  # the reopened stream stayed open
    page.screenshot(path=str(SHOTS / "slidebridge-viewer-reconnected.png"))


def test_a_refused_stream_of_a_user_signed_out_meanwhile_goes_to_the_login_form(
    site: ViewerSite, context: BrowserContext
) -> None:
    gateway = Gateway(refuse=1_000)
    context.route(STREAMS, gateway)
    page = site.login(context, "surgeon_north")
    page.goto(f"{site.base}/slides/{site.slides['cmu']}")
    page.wait_for_function("() => window.slidebridge?.annotationsLoaded", timeout=30_000)
    disabled = site.client.post("/api/users/surgeon_north/disable", headers=site.auth("admin"))
    assert disabled.status_code == 200, disabled.text
    # The check after the next refusal answers 401: to the login form, back here after.
    slide_path = f"%2Fslides%2F{site.slides['cmu']}"
    page.wait_for_url(f"{site.base}/login?next={slide_path}", timeout=20_000)
    assert not gateway.passed
