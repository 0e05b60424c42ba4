"""A second opinion in Chromium: the reporting pathologist asks a colleague from the
review page; the colleague's open worklist shows the request live (no reload), they
answer in the case's thread, and the asker sees the answer arrive. Screenshots go to
/tmp/opinion_*.png."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from app.core.security import hash_password
from app.models.accounts import Role, UserCreate
from app.services import accounts as crud
from tests.browser import serve_asgi
from tests.cases.test_browser import login, mark, site_app  # noqa: F401 - the fixture
from tests.cases.test_report_browser import signed_case
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_ask_a_colleague_and_read_the_answer(
    browser: Browser,
    site_app: tuple[FastAPI, dict[str, str]],  # noqa: F811
) -> None:
    app, tokens = site_app
    with TestClient(app), app.state.db.write() as session:
        crud.create_user(
            session,
            UserCreate(
                username="path_north2", role=Role.pathologist, full_name="Dr. Colin League",
                password=PASSWORD, covers=["NORTH"],
            ),
            password_hash=hash_password(PASSWORD),
        )  # fmt: skip
    case = signed_case(app, tokens)
    errors: list[str] = []
    with serve_asgi(app) as base:
        colleague_ctx, worklist = login(browser, base, "path_north2")
        asker_ctx, review = login(browser, base, "path_north")
        for page in (worklist, review):
            page.on("pageerror", lambda error: errors.append(str(error)))
        worklist.goto(f"{base}/cases")
        worklist.wait_for_function("window.slidebridgeCases && window.slidebridgeCases.loaded")
        mark(worklist)
        assert worklist.is_hidden("#asked")

        review.goto(f"{base}/cases/{case['id']}")
        review.wait_for_selector(
            "#ask-form:not([hidden]) option[value='user:path_north2']", state="attached"
        )
        review.select_option("#ask-form [name=to]", "user:path_north2")
        review.fill("#ask-form [name=note]", "Is the superior margin really involved?")
        review.click("#ask-form button[type=submit]")
        review.wait_for_selector("#thread li[data-kind=question]")

        # The colleague's worklist shows it at once, without a reload.
        worklist.wait_for_selector(f"#asked li[data-asked='{case['id']}']", timeout=10_000)
        assert worklist.evaluate("window.__noReload") is True
        assert "Is the superior margin really involved?" in worklist.inner_text("#asked")
        worklist.screenshot(path="/tmp/opinion_worklist.png", full_page=True)
        worklist.click(f"#asked li[data-asked='{case['id']}'] a")
        worklist.wait_for_selector("form[data-answer] textarea")
        worklist.fill("form[data-answer] textarea", "Agree: ink on tumour at the superior margin.")
        worklist.screenshot(path="/tmp/opinion_answer.png", full_page=True)
        worklist.click("form[data-answer] button[type=submit]")
        worklist.wait_for_selector("#thread li[data-kind=opinion]")
        # Co-signing is a separate, deliberate act with the password.
        worklist.fill("#cosign-form [name=password]", PASSWORD)
        worklist.click("#cosign")
        worklist.wait_for_selector("#opinions li[data-cosigned=path_north2]")

        # The asker sees the answer and the co-signature arrive live.
        review.wait_for_selector("#thread li[data-kind=opinion]", timeout=10_000)
        review.wait_for_selector("#opinions li[data-cosigned=path_north2]")
        assert "Agree: ink on tumour" in review.inner_text("#thread")
        review.screenshot(path="/tmp/opinion_review.png", full_page=True)
        for context in (colleague_ctx, asker_ctx):
            context.close()
    assert errors == []
