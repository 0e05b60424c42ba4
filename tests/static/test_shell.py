"""The page shell in Chromium: every page shows the header with the links of the user's
role and no other, dates and times an en-US browser cannot turn into 3/2/1968 or 2:05 PM,
the date field that takes ISO or a month's name and refuses 03/02/1968, and sign-out.

Screenshots of every page for every role go to $SLIDEBRIDGE_SCREENSHOTS (default /tmp)
as shell-<role>-<page>.png, for a person to look at."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.cases.conftest import REPORT, REQUEST
from tests.conftest import PASSWORD
from tests.static.viewer_site import ViewerSite, running_site

pytestmark = pytest.mark.browser
SCREENSHOT_DIR = Path(os.environ.get("SLIDEBRIDGE_SCREENSHOTS", "/tmp"))
DOB = "1968-03-02"
#: The links each role's header has, in order: what that role does, and nothing else.
ROLE_LINKS = {
    "admin": ["Slides", "Cases", "New request", "Upload", "Turnaround", "Teaching"],
    "path_north": ["Slides", "Worklist", "Upload", "Turnaround", "Teaching"],
    "surgeon_north": ["Slides", "Cases", "New request", "Operating room NORTH"],
    "tech_north": ["Slides", "Cases", "New request", "Upload", "Operating room NORTH"],
}
WHO = {
    "admin": "admin · admin · all sites",
    "path_north": "path_north · pathologist · covers NORTH",
    "surgeon_north": "surgeon_north · surgeon · NORTH",
    "tech_north": "tech_north · technician · NORTH",
}
#: What an en-US browser's toLocale*String writes: 3/2/1968, 2:05 PM.
LOCALE_DATE = re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b")
TWELVE_HOUR = re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?\s?[AP]M\b", re.IGNORECASE)
#: A signature's moment: the 24-hour clock with New York's zone (a date if not today).
SIGNED_AT = re.compile(r"Signed by .+ at (\d{1,2} [A-Z][a-z]{2} \d{4} )?[0-2]\d:[0-5]\d UTC-[45]\b")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ViewerSite]:
    with running_site(tmp_path_factory.mktemp("shell")) as running:
        yield running


def _post(site: ViewerSite, user: str, url: str, **body: Any) -> Any:
    response = site.client.post(url, json=body, headers=site.auth(user))
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture(scope="module")
def case_id(site: ViewerSite) -> str:
    """A reported frozen section of a patient born on 2 March 1968, with a real slide."""
    case = _post(site, "tech_north", "/api/cases", **{**REQUEST, "patient_dob": DOB})
    _post(site, "tech_north", f"/api/cases/{case['id']}/slides", slide=site.slides["cmu"])
    _post(site, "path_north", f"/api/cases/{case['id']}/claim")
    _post(site, "path_north", f"/api/cases/{case['id']}/report", **REPORT, password=PASSWORD)
    return str(case["id"])


def us_browser(browser: Browser, **options: Any) -> BrowserContext:
    """A browser whose own date formats are the misreadable ones (3/2/1968, 2:05 PM)."""
    return browser.new_context(
        locale="en-US",
        timezone_id="America/New_York",
        viewport={"width": 1400, "height": 900},
        **options,
    )


def _pages(site: ViewerSite, case_id: str) -> dict[str, tuple[str, str]]:
    """Page name -> (path, a selector that is there once the page has loaded its data)."""
    return {
        "home": ("/", "#slides li"),
        "upload": ("/upload", "body[data-ready=true]"),
        "viewer": (f"/slides/{site.slides['cmu']}", "#status.ok"),
        "worklist": ("/cases", f"tr[data-case='{case_id}']"),
        "request": ("/cases/new", "#patient_dob-said"),
        "review": (f"/cases/{case_id}", "#patient dd"),
        "result": (f"/cases/{case_id}/result", f"[data-case='{case_id}'] [data-category]"),
        "or": ("/or/NORTH", f"[data-case='{case_id}']"),
        "turnaround": ("/turnaround", "#range:not(:empty)"),
    }


@pytest.mark.parametrize("user", list(ROLE_LINKS))
def test_every_page_shows_the_links_of_the_users_role(
    site: ViewerSite, case_id: str, browser: Browser, user: str
) -> None:
    # The pages' own CSP applies here (no bypass): the shell must run under it.
    context = us_browser(browser)
    errors: list[str] = []
    page = site.login(context, user)
    page.on("pageerror", lambda error: errors.append(str(error)))
    role = WHO[user].split(" · ")[1]
    for name, (path, loaded) in _pages(site, case_id).items():
        page.goto(f"{site.base}{path}")
        page.wait_for_selector(loaded, state="attached")
        expect(page.locator("#who")).to_have_text(WHO[user])
        labels = page.locator("#nav a").all_inner_texts()
        assert labels == ROLE_LINKS[user], name
        # The link to this very page, if the role has one, is marked as the current page.
        by_href = dict(zip(_hrefs(page), labels, strict=True))
        current = page.locator("#nav a[aria-current=page]").all_inner_texts()
        assert current == ([by_href[path]] if path in by_href else []), name
        assert page.locator("#sign-out button").is_visible(), name
        text = page.inner_text("body")
        assert not LOCALE_DATE.search(text), (name, LOCALE_DATE.search(text))
        assert not TWELVE_HOUR.search(text), (name, TWELVE_HOUR.search(text))
        _settle(page, name)
        page.screenshot(path=str(SCREENSHOT_DIR / f"shell-{role}-{name}.png"), full_page=True)
    context.close()
    assert errors == []


def _settle(page: Page, name: str) -> None:
    """Thumbnails in, for the screenshot (pages with a live stream never go network-idle)."""
    if name == "home":
        page.wait_for_load_state("networkidle")
    for image in page.locator("main img").all():
        expect(image).to_have_js_property("complete", True)


def _hrefs(page: Page) -> list[str]:
    return [str(link.get_attribute("href")) for link in page.locator("#nav a").all()]


def test_a_date_of_birth_reads_the_same_in_an_en_us_browser(
    site: ViewerSite, case_id: str, browser: Browser
) -> None:
    context = us_browser(browser)
    page = site.login(context, "path_north")
    # This browser would write the date the misreadable way: the test can fail.
    assert page.evaluate("new Date(1968, 2, 2).toLocaleDateString()") == "3/2/1968"
    page.goto(f"{site.base}/cases/{case_id}")
    born = page.locator("#patient dt:text-is('Born') + dd")
    expect(born).to_have_text("2 Mar 1968")
    assert "3/2/1968" not in page.inner_text("body")

    room = site.login(context, "surgeon_north")
    for path in (f"/cases/{case_id}/result", "/or/NORTH"):
        room.goto(f"{site.base}{path}")
        ids = room.locator(f"[data-case='{case_id}'] .ids")
        expect(ids).to_contain_text("born 2 Mar 1968")
        assert "3/2/1968" not in room.inner_text("body")
        signed = room.locator(f"[data-case='{case_id}']").inner_text()
        assert SIGNED_AT.search(signed), signed
    context.close()


def test_the_date_of_birth_field_takes_iso_and_refuses_a_locale_date(
    site: ViewerSite, browser: Browser
) -> None:
    context = us_browser(browser)
    page = site.login(context, "tech_north")
    page.goto(f"{site.base}/cases/new")
    page.wait_for_selector("#nav a")
    dob = page.locator("[name=patient_dob]")
    said = page.locator("#patient_dob-said")
    assert dob.get_attribute("type") == "text"  # not the browser's mm/dd/yyyy date input

    dob.fill("1968-03-02")
    expect(said).to_have_text("Saturday 2 Mar 1968")
    dob.fill("03/02/1968")
    dob.blur()
    expect(said).to_have_text("Ambiguous: 3 Feb 1968 or 2 Mar 1968? Write 1968-02-03 or 1968-03-02")
    expect(said).to_have_class(re.compile(r"\berror\b"))
    dob.fill("1968-02-30")
    dob.blur()
    expect(said).to_have_text("February 1968 has no day 30 (it has 29 days)")
    dob.fill("2 Mar 2968")
    dob.blur()
    expect(said).to_have_text("2 Mar 2968 is in the future")

    for name in ("patient_mrn", "patient_name", "specimen_site"):
        page.fill(f"[name={name}]", REQUEST[name])
    page.fill("[name=clinical_question]", REQUEST["clinical_question"])
    dob.fill("03/02/1968")
    before = _case_count(site)
    page.click("#request button[type=submit]")
    expect(said).to_contain_text("Ambiguous")
    assert page.locator("#upload").is_hidden() and _case_count(site) == before
    page.screenshot(path=str(SCREENSHOT_DIR / "shell-technician-request-refused-date.png"))

    # The month by name is taken, and sent as ISO.
    dob.fill("2 March 1968")
    expect(said).to_have_text("Saturday 2 Mar 1968")
    page.click("#request button[type=submit]")
    page.wait_for_selector("#upload:not([hidden])")
    case_id = page.url.rsplit("case=", 1)[1]
    case = site.client.get(f"/api/cases/{case_id}", headers=site.auth("tech_north")).json()
    assert case["patient_dob"] == DOB
    context.close()


def _case_count(site: ViewerSite) -> int:
    response = site.client.get("/api/cases?limit=500", headers=site.auth("admin"))
    return len(response.json()["items"])


def test_the_turnaround_period_takes_iso_dates(site: ViewerSite, browser: Browser) -> None:
    context = us_browser(browser)
    page = site.login(context, "path_north")
    page.goto(f"{site.base}/turnaround")
    page.wait_for_selector("#range:not(:empty)")
    start = page.locator("[name=start]")
    start.fill("01/06/2025")
    start.blur()
    expect(page.locator("#start-said")).to_contain_text("Ambiguous")
    start.fill("2025-01-06")
    page.fill("[name=end]", "12 Jan 2025")
    page.select_option("[name=period]", "day")
    page.click("#filters button[type=submit]")
    expect(page.locator("#range")).to_have_text("6 Jan 2025 to 12 Jan 2025, by day")
    context.close()


def test_sign_out_from_the_header(site: ViewerSite, browser: Browser) -> None:
    context = us_browser(browser)
    page = site.login(context, "surgeon_north")
    page.goto(f"{site.base}/cases/new")
    page.wait_for_selector("#nav a")
    session = context.cookies()
    other = context.new_page()  # a second tab of the same browser signs out
    other.goto(f"{site.base}/cases")
    other.click("#sign-out button")
    # The page's own next API call may meet the revoked session first and go to the
    # login form with `?next=`: either way the tab ends on the login form.
    other.wait_for_url(re.compile(r"/login(\?.*)?$"))
    other.goto(f"{site.base}/cases")
    assert other.url == f"{site.base}/login?next=/cases"

    # The first tab's next call to the API meets the signed-out session: to the login
    # form, coming back to the page it was on.
    page.fill("[name=patient_mrn]", "x")
    page.fill("[name=patient_name]", "x")
    page.fill("[name=specimen_site]", "x")
    page.fill("[name=clinical_question]", "x")
    page.click("#request button[type=submit]")
    page.wait_for_url(f"{site.base}/login?next=%2Fcases%2Fnew")

    # The old session cookie, replayed, was revoked by the hub.
    context.add_cookies(session)  # type: ignore[arg-type]
    other.goto(f"{site.base}/")
    assert other.url == f"{site.base}/login?next=/"
    context.close()
