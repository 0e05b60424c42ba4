"""Every page in Chinese, in Chromium: a browser that asks for Chinese (Accept-Language,
navigator.language) gets every page of the product in Chinese, and a page that shows
an English word that is not data fails the test, naming the page, the word and the
text around it. Data (names, codes, file names, a diagnosis) is marked in the pages
with the standard `translate="no"` attribute; the fixture's clinical data is Chinese,
as at the hospitals that use it. Screenshots of each page go to /tmp/zh_*.png.

Also: the category and the read-back button of the operating-room screen in Chinese,
dates that no reader can misread (1961年3月14日), a user's own language overriding the
browser's (the header's control), and the sign-in form in the browser's language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, Page
from sqlmodel import select

from app.models.cases import Acknowledgement
from tests.browser import serve_asgi
from tests.cases.test_browser import site_app as site_app  # the same hub and people
from tests.conftest import PASSWORD, SMALL_SVS

pytestmark = pytest.mark.browser
CASE: dict[str, Any] = {
    "type": "frozen_section",
    "patient_mrn": "MRN-004217",
    "patient_name": "王秀英",
    "patient_dob": "1961-03-14",
    "patient_sex": "female",
    "specimen_site": "乳腺",
    "specimen_laterality": "left",
    "specimen_type": "切缘",
    "clinical_question": "上切缘是否有癌累及？",
    "surgeon_name": "王医生",
    "operating_room": "3号手术室",
    "history": "粗针穿刺活检示浸润性导管癌。",
}
REPORT = {"category": "malignant", "diagnosis": "浸润性导管癌。", "margins": "上切缘阳性。"}

#: Latin words a Chinese page may show that are no English sentence: the product's
#: name, units (SI and file sizes), the clock's zone, a file format and a keyboard key.
ALLOWED = {
    "SlideBridge", "px", "mm", "kB", "MB", "GB", "TB", "UTC", "GeoJSON", "WASD", "Esc",
    "PDF", "FHIR",  # names of formats, the same in Chinese
}  # fmt: skip

#: Visible text outside elements marked translate="no": text nodes of rendered
#: elements, the selected option of a select, the placeholder of an empty field.
#: (OpenSeadragon draws its controls as images, titled for hovering. A page's title may
#: hold data, a patient's name, which a title cannot mark: its words are the catalog's.)
VISIBLE_TEXT = """() => {
  const parts = [];
  const visit = (node) => {
    if (node.nodeType === Node.TEXT_NODE) { parts.push(node.data); return; }
    if (node.nodeType !== Node.ELEMENT_NODE) return;
    if (["SCRIPT", "STYLE", "TEMPLATE", "NOSCRIPT"].includes(node.tagName)) return;
    if (node.getAttribute("translate") === "no" || !node.checkVisibility()) return;
    if (node.tagName === "SELECT") {
      const option = node.selectedOptions[0];
      if (option && option.getAttribute("translate") !== "no") parts.push(option.text);
      return;
    }
    if ((node.tagName === "INPUT" || node.tagName === "TEXTAREA") && !node.value) {
      parts.push(node.placeholder || "");
    }
    for (const child of node.childNodes) visit(child);
  };
  visit(document.body);
  return parts.join("\\n");
}"""
WORD = re.compile(r"[A-Za-z][A-Za-z'’]*[A-Za-z]")


def english_words(page: Page) -> list[str]:
    """Each English word on the page, with the line it is on."""
    found = []
    for line in page.evaluate(VISIBLE_TEXT).splitlines():
        for word in WORD.findall(line):
            if word not in ALLOWED:
                found.append(f"{word!r} in {line.strip()[:100]!r}")
    return found


def assert_chinese(page: Page, name: str) -> None:
    page.wait_for_load_state("networkidle")
    page.screenshot(path=f"/tmp/zh_{name}.png", full_page=True)
    assert page.evaluate("document.documentElement.lang") == "zh-Hans"
    words = english_words(page)
    assert not words, f"English on the Chinese {name} page ({page.url}):\n" + "\n".join(words)


@pytest.fixture
def hub(site_app: tuple[FastAPI, dict[str, str]]) -> Iterator[tuple[FastAPI, dict[str, Any]]]:
    """The cases' hub (tests/cases/test_browser.py) with a reported frozen section, not
    yet acknowledged, of a Chinese patient."""
    app, tokens = site_app
    with TestClient(app) as client:

        def call(user: str, method: str, url: str, **kwargs: Any) -> Any:
            headers = {"Authorization": f"Bearer {tokens[user]}"}
            response = client.request(method, url, headers=headers, **kwargs)
            assert response.status_code < 300, response.text
            return response.json()

        case = call("tech_north", "POST", "/api/cases", json=CASE)
        files = {"file": ("CMU-1-Small-Region.svs", SMALL_SVS.read_bytes())}
        slide = call("tech_north", "POST", "/api/slides", files=files)
        call("tech_north", "POST", f"/api/cases/{case['id']}/slides", json={"slide": slide["id"]})
        call("path_north", "POST", f"/api/cases/{case['id']}/claim")
        call("path_north", "POST", f"/api/cases/{case['id']}/viewed")
        report = {**REPORT, "password": PASSWORD}
        call("path_north", "POST", f"/api/cases/{case['id']}/report", json=report)
        yield app, {"case": case["id"], "slide": slide["id"]}


def chinese(browser: Browser) -> BrowserContext:
    # bypass_csp: Playwright evaluates its wait predicates with eval, which our CSP forbids.
    return browser.new_context(
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        viewport={"width": 1366, "height": 900},
        bypass_csp=True,
    )


def sign_in(context: BrowserContext, base: str, username: str) -> Page:
    page = context.new_page()
    page.goto(f"{base}/login")
    assert_chinese(page, "login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def test_every_page_in_chinese(browser: Browser, hub: tuple[FastAPI, dict[str, Any]]) -> None:
    app, ids = hub
    case, slide = ids["case"], ids["slide"]
    errors: list[str] = []
    with serve_asgi(app) as base:
        context = chinese(browser)
        context.on("weberror", lambda error: errors.append(str(error.error)))
        page = sign_in(context, base, "path_north")

        page.wait_for_selector("#slides li")
        assert_chinese(page, "home")

        page.goto(f"{base}/slides/{slide}")
        page.wait_for_function("window.slidebridge && window.slidebridge.firstTile", timeout=30_000)
        page.click("[data-tool=rectangle]")
        assert_chinese(page, "viewer")

        page.goto(f"{base}/upload")
        page.wait_for_selector("body[data-ready=true]")
        assert_chinese(page, "upload")

        page.goto(f"{base}/cases")
        page.wait_for_selector(f"tr[data-case='{case}']")
        assert_chinese(page, "worklist")

        page.goto(f"{base}/cases/{case}")
        page.wait_for_selector("#reports:not([hidden]) #versions li")
        assert "1961年3月14日" in page.inner_text("#patient")
        assert "恶性" in page.inner_text("#versions")
        assert_chinese(page, "review")

        page.goto(f"{base}/turnaround")
        page.wait_for_selector("tr[data-site=NORTH]")
        assert_chinese(page, "turnaround")

        page.goto(f"{base}/cases/new")
        page.wait_for_selector("#language")
        page.fill("[name=patient_dob]", "3/2/1968")
        page.locator("[name=patient_dob]").blur()
        said = page.inner_text("#patient_dob-said")
        assert "1968年3月2日" in said and "1968年2月3日" in said  # both readings, spelled out
        page.fill("[name=patient_dob]", "1968年3月2日")
        page.locator("[name=patient_dob]").blur()
        assert page.inner_text("#patient_dob-said") == "1968年3月2日 星期六"
        assert_chinese(page, "request")
        context.close()

        # The operating room: the category and the read-back in Chinese, the read-back
        # recorded in the words the surgeon read.
        context = chinese(browser)
        context.on("weberror", lambda error: errors.append(str(error.error)))
        room = sign_in(context, base, "surgeon_north")
        room.goto(f"{base}/or/NORTH")
        room.wait_for_selector(f"[data-case='{case}'] [data-category=malignant]")
        assert room.inner_text(f"[data-case='{case}'] [data-category]") == "恶性"
        button = room.locator(f"[data-ack='{case}']")
        assert button.inner_text() == "复述并确认：恶性"
        assert "1961年3月14日" in room.inner_text(f"[data-case='{case}'] .ids")
        assert_chinese(room, "or_result")
        button.click()
        room.wait_for_selector(f"[data-case='{case}'] [data-acknowledged]")
        assert_chinese(room, "or_acknowledged")
        room.goto(f"{base}/cases/{case}/result")
        room.wait_for_selector("[data-acknowledged]")
        assert_chinese(room, "result")
        context.close()
    with app.state.db.read() as session:
        [acknowledgement] = session.exec(select(Acknowledgement)).all()
    assert acknowledgement.read_back == "恶性: 浸润性导管癌。"
    assert errors == []


def test_the_check_sees_english(browser: Browser, hub: tuple[FastAPI, dict[str, Any]]) -> None:
    """The same pages in an English browser: the check finds English (it is not blind),
    and none of it is data marked translate="no"."""
    app, ids = hub
    with serve_asgi(app) as base:
        context = browser.new_context(locale="en-GB", bypass_csp=True)
        page = context.new_page()
        page.goto(f"{base}/login")
        page.fill("#username", "path_north")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{base}/cases/{ids['case']}")
        page.wait_for_selector("#reports:not([hidden]) #versions li")
        page.wait_for_load_state("networkidle")
        words = " ".join(english_words(page))
        assert "Specimen" in words and "MALIGNANT" in words and "Mar" in words
        assert "MRN-004217" not in words  # data: marked, never counted
        assert page.evaluate("document.documentElement.lang") == "en"
        context.close()


def test_a_users_own_language_wins_over_the_browsers(
    browser: Browser, hub: tuple[FastAPI, dict[str, Any]]
) -> None:
    """The header's control: a user in an English browser chooses Chinese; every page is
    Chinese from then on (kept on the hub), and "browser language" goes back."""
    app, _ = hub
    with serve_asgi(app) as base:
        context = browser.new_context(locale="en-US", bypass_csp=True)
        page = context.new_page()
        page.goto(f"{base}/login")
        assert page.inner_text("button[type=submit]") == "Sign in"
        page.fill("#username", "tech_north")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#language")
        assert page.inner_text("#nav").startswith("Slides")
        with page.expect_navigation():
            page.select_option("#language", "zh-Hans")
        page.wait_for_selector("#language")
        assert page.inner_text("#nav").startswith("切片")
        page.goto(f"{base}/cases")
        page.wait_for_selector("#language")
        assert page.evaluate("document.documentElement.lang") == "zh-Hans"
        assert page.inner_text("h1") == "术中冰冻与病例"
        with page.expect_navigation():
            page.select_option("#language", "")
        page.wait_for_selector("#language")
        assert page.inner_text("h1") == "Frozen sections & cases"
        context.close()
