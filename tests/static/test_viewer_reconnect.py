"""The viewer's live stream in Chromium when the hub refuses it with an HTTP error (a 502
while a web process behind nginx restarts): the browser's EventSource gives up for good
on such an answer, so `liveEvents` opens it again, after a growing pause, and another
pathologist's annotation arrives without a reload; a user signed out meanwhile goes to
the login form instead, as before; a stream refused because the slide is gone is not
asked for again. While the link is down the viewer says so in words.
Screenshots: /tmp/slidebridge-viewer-reconnected.png, /tmp/slidebridge-viewer-reconnecting.png,
/tmp/slidebridge-viewer-refused.png."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext, Route, expect

from tests.static.test_viewer import SHOTS, open_viewer, state
from tests.static.viewer_site import ViewerSite, running_site

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("viewer")]
STREAMS = "**/api/slides/*/events"
#: A stream that says `ready` and ends: the page has been live, then the link drops.
READY_THEN_CLOSED = 'event: ready\ndata: {"dropped": true}\n\n'


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ViewerSite]:
    with running_site(tmp_path_factory.mktemp("viewer-reconnect")) as running:
        yield running


class Gateway:
    """What nginx answers the page's stream requests: with `drop_first`, the hub's `ready`
    and then a closed connection to the first; 502 to the next `refuse`; then the hub's
    own answer. Records when each request came."""

    def __init__(self, refuse: int, drop_first: bool = False) -> None:
        self.refuse = refuse
        self.drop_first = drop_first
        self.dropped: list[float] = []
        self.refused: list[float] = []
        self.passed: list[float] = []

    def __call__(self, route: Route) -> None:
        if self.drop_first and not self.dropped:
            self.dropped.append(time.monotonic())
            route.fulfill(status=200, content_type="text/event-stream", body=READY_THEN_CLOSED)
        elif len(self.refused) < self.refuse:
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

    site.add_square(site.slides["cmu"], 1000, 1000, 400, "path_second")
    expect(page.locator("#annotation-count")).to_have_text("1", timeout=10_000)
    assert state(page, "store.items.size") == 1
    assert len(gateway.passed) == 1  # the reopened stream stayed open
    page.screenshot(path=str(SHOTS / "slidebridge-viewer-reconnected.png"))


def test_a_dropped_stream_says_so_in_words_until_it_is_back(
    site: ViewerSite, context: BrowserContext
) -> None:
    site.clear("cmu")
    gateway = Gateway(refuse=1_000, drop_first=True)
    context.route(STREAMS, gateway)
    page = site.login(context, "path_north")
    page.goto(f"{site.base}/slides/{site.slides['cmu']}")
    page.wait_for_function("() => window.slidebridge?.annotationsLoaded", timeout=30_000)
    # Live on the first `ready`; then the link drops, and the hub refuses every try until
    # the test lets one through: the page says it is not live (a tired reader must not
    # take a still view for a quiet colleague), in words.
    page.wait_for_function("() => document.body.dataset.live === 'reconnecting'", timeout=10_000)
    assert len(gateway.dropped) == 1 and not gateway.passed
    notice = page.locator("#live-lost")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Live updates interrupted, reconnecting")
    page.screenshot(path=str(SHOTS / "slidebridge-viewer-reconnecting.png"))
    # A change made while the link is down arrives once it is back (the store reloads).
    site.add_square(site.slides["cmu"], 1000, 1000, 400, "path_second")
    # The browser's own retry is refused too (Playwright answers it while the test waits).
    for _ in range(100):
        if gateway.refused:
            break
        page.wait_for_timeout(100)
    assert gateway.refused and not gateway.passed
    expect(notice).to_be_visible()  # still down: nothing came through
    gateway.refuse = len(gateway.refused)  # the hub is back: the next try goes through
    page.wait_for_function("() => document.body.dataset.live === 'connected'", timeout=20_000)
    expect(notice).to_have_count(0)
    expect(page.locator("#annotation-count")).to_have_text("1", timeout=10_000)
    assert len(gateway.dropped) == 1 and gateway.refused and len(gateway.passed) == 1


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


def test_a_stream_refused_because_the_slide_was_deleted_stops_and_says_so(
    site: ViewerSite, context: BrowserContext
) -> None:
    gateway = Gateway(refuse=1_000, drop_first=True)
    context.route(STREAMS, gateway)
    slide_id = site.slides["crowded"]
    page = site.login(context, "path_north")
    page.goto(f"{site.base}/slides/{slide_id}")
    page.wait_for_function("() => document.body.dataset.live === 'reconnecting'", timeout=30_000)
    # While the link is down, an administrator deletes the slide; then the hub answers
    # for itself: 404 for the stream, and for the check after it.
    deleted = site.client.delete(f"/api/slides/{slide_id}", headers=site.auth("admin"))
    assert deleted.status_code == 204, deleted.text
    gateway.refuse = len(gateway.refused)
    page.wait_for_function("() => document.body.dataset.live === 'refused'", timeout=20_000)
    notice = page.locator("#live-lost")
    expect(notice).to_contain_text("Live updates stopped")
    expect(notice).to_contain_text("deleted or is no longer shared with you")
    page.screenshot(path=str(SHOTS / "slidebridge-viewer-refused.png"))
    # No more tries: before, a reopen every 1, 2, 4... s up to 15 s, for ever.
    asked = len(gateway.refused) + len(gateway.passed)
    page.wait_for_timeout(4_000)
    assert len(gateway.refused) + len(gateway.passed) == asked
    # Through to the hub at most once: a 502 whose check came after the deletion is refused
    # by the check alone.
    assert len(gateway.passed) <= 1
