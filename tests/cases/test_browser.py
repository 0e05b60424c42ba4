"""End to end in Chromium, three people in three browser contexts: the technician
requests and uploads a real slide, the pathologist sees it arrive on the worklist,
claims, views and signs; the operating room's screen shows the result without a reload,
the surgeon acknowledges, the pathologist sees the acknowledgement, and the turnaround
metrics count the case. Screenshots of every screen go to /tmp/cases_*.png."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, Page

from app.core.config import Settings
from app.core.security import hash_password
from app.main import create_app
from app.models.accounts import Role, Site, TokenKind, UserCreate
from app.services import accounts as crud
from tests.browser import serve_asgi
from tests.cases.conftest import REQUEST
from tests.conftest import PASSWORD, SECRET, SMALL_SVS

pytestmark = pytest.mark.browser
PEOPLE = {
    "tech_north": (Role.technician, "Tina Tech"),
    "path_north": (Role.pathologist, "Dr. Paula Path"),
    "surgeon_north": (Role.surgeon, "Dr. Sam Surgeon"),
}


@pytest.fixture
def site_app(tmp_path: Path) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    settings = Settings(
        environment="test", secret_key=SECRET, data_dir=tmp_path / "data", cookie_secure=False,
        build_processes=1, embedded_workers=1, job_poll_seconds=0.2,
    )  # fmt: skip
    app = create_app(settings)
    tokens: dict[str, str] = {}
    with TestClient(app):  # runs the migrations
        db = app.state.db
        with db.write() as session:
            site = Site(code="NORTH", name="North Island Hospital")
            session.add(site)
            session.flush()
            digest = hash_password(PASSWORD)
            for username, (role, full_name) in PEOPLE.items():
                pathologist = role == Role.pathologist
                data = UserCreate(
                    username=username, role=role, full_name=full_name, password=PASSWORD,
                    site=None if pathologist else site.code,
                    covers=[site.code] if pathologist else [],
                )  # fmt: skip
                user = crud.create_user(session, data, password_hash=digest)
                tokens[username], _ = crud.issue_token(
                    session, user, TokenKind.bearer, timedelta(minutes=30), SECRET
                )
    yield app, tokens


def login(
    browser: Browser, base: str, username: str, **options: Any
) -> tuple[BrowserContext, Page]:
    # bypass_csp: Playwright evaluates its wait predicates with eval, which our CSP forbids.
    context = browser.new_context(
        **{"viewport": {"width": 1400, "height": 900}, "bypass_csp": True, **options}
    )
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return context, page


def mark(page: Page) -> None:
    """A flag that only survives if the page is never reloaded."""
    page.evaluate("window.__noReload = true")


def test_frozen_section_from_request_to_acknowledgement(
    browser: Browser, site_app: tuple[FastAPI, dict[str, str]]
) -> None:
    app, tokens = site_app
    errors: list[str] = []
    with serve_asgi(app) as base:
        path_ctx, worklist = login(browser, base, "path_north")
        surgeon_ctx, room = login(
            browser, base, "surgeon_north", viewport={"width": 1600, "height": 1000}
        )
        tech_ctx, form = login(
            browser, base, "tech_north", viewport={"width": 1024, "height": 1366}
        )
        for page in (worklist, room, form):
            page.on("pageerror", lambda error: errors.append(str(error)))

        worklist.goto(f"{base}/cases")
        worklist.wait_for_function("window.slidebridgeCases && window.slidebridgeCases.loaded")
        mark(worklist)
        room.goto(f"{base}/or/NORTH")
        room.wait_for_selector("#link[data-connected=true]")
        mark(room)

        # The technician: request, then upload the real slide into the case (tus).
        form.goto(f"{base}/cases/new")
        for name in ("patient_mrn", "patient_name", "specimen_site", "specimen_type",
                     "surgeon_name", "operating_room"):  # fmt: skip
            form.fill(f"[name={name}]", REQUEST[name])
        form.fill("[name=patient_dob]", REQUEST["patient_dob"])
        form.select_option("[name=patient_sex]", "female")
        form.select_option("[name=specimen_laterality]", "left")
        form.fill("[name=clinical_question]", REQUEST["clinical_question"])
        form.screenshot(path="/tmp/cases_request_form.png", full_page=True)
        form.click("#request button[type=submit]")
        form.wait_for_selector("#upload:not([hidden])")
        case_id = form.evaluate("window.slidebridgeRequest.caseId")
        assert case_id

        # The worklist announces the new urgent case without a reload.
        worklist.wait_for_selector(f"tr[data-case='{case_id}']")
        worklist.wait_for_function("window.slidebridgeCases.alerts >= 1")
        room.wait_for_selector(f"[data-case='{case_id}']")

        form.set_input_files("#files", str(SMALL_SVS))
        form.wait_for_selector("#uploads li[data-done]", timeout=60_000)
        form.wait_for_selector("#case-status[data-status=ready]", timeout=10_000)
        form.screenshot(path="/tmp/cases_request_uploaded.png", full_page=True)

        # The pathologist: ready on the worklist, claim, view the slide, sign.
        claim = worklist.wait_for_selector(f"[data-claim='{case_id}']", timeout=10_000)
        worklist.wait_for_timeout(1200)  # let the clock tick for the screenshot
        worklist.screenshot(path="/tmp/cases_worklist.png", full_page=True)
        assert worklist.evaluate("window.__noReload") is True
        claim.click()
        worklist.wait_for_url(f"{base}/cases/{case_id}")
        review = worklist
        review.wait_for_selector("#status[data-status=in_review]")
        with path_ctx.expect_page() as opened:
            review.click("[data-slide]")
        viewer = opened.value
        viewer.wait_for_function(
            "window.slidebridge && window.slidebridge.firstTile", timeout=30_000
        )
        viewer.screenshot(path="/tmp/cases_viewer.png")
        review.bring_to_front()
        review.wait_for_function("window.slidebridgeReview.case.first_viewed_at !== null")
        review.check("input[name=category][value=malignant]")
        review.fill("[name=diagnosis]", "Invasive ductal carcinoma.")
        review.fill("[name=margins]", "Superior margin involved.")
        review.fill("[name=comment]", "Consider re-excision of the superior margin.")
        review.fill("[name=password]", PASSWORD)
        review.screenshot(path="/tmp/cases_review.png", full_page=True)
        review.click("#sign")

        # The operating room: the signed diagnosis is pushed to the open screen.
        room.wait_for_selector(f"[data-case='{case_id}'] [data-category=malignant]", timeout=15_000)
        assert room.evaluate("window.__noReload") is True
        room.screenshot(path="/tmp/cases_or_result.png", full_page=True)
        room.click(f"[data-ack='{case_id}']")
        room.wait_for_selector(f"[data-case='{case_id}'] [data-acknowledged]")
        room.screenshot(path="/tmp/cases_or_acknowledged.png", full_page=True)

        # The pathologist sees who acknowledged, live.
        review.wait_for_selector("#ack[data-acknowledged=true]", timeout=5_000)
        assert "surgeon_north" in review.inner_text("#ack")
        review.screenshot(path="/tmp/cases_review_acknowledged.png", full_page=True)

        # A single-case result page works too.
        single = surgeon_ctx.new_page()
        single.goto(f"{base}/cases/{case_id}/result")
        single.wait_for_selector("[data-acknowledged]")

        # Turnaround counts it.
        review.goto(f"{base}/turnaround")
        review.wait_for_selector("tr[data-site=NORTH]")
        assert review.inner_text("tr[data-site=NORTH] [data-frozen]") == "1"
        review.screenshot(path="/tmp/cases_turnaround.png", full_page=True)
        with TestClient(app) as client:
            metrics = client.get(
                "/api/metrics/turnaround?site=NORTH&period=all",
                headers={"Authorization": f"Bearer {tokens['path_north']}"},
            ).json()
        [row] = metrics["rows"]
        assert row["frozen_sections"] == 1 and row["reported"] == 1
        assert row["within_goal"] == 1 and row["deferral_rate"] == 0
        for context in (path_ctx, surgeon_ctx, tech_ctx):
            context.close()
    assert errors == []
