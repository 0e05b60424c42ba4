"""Printing from the operating room, in Chromium: the result screen's Print button opens
the signed report's PDF (the version on screen), for a signed-in surgeon and for the
room's kiosk screen; the review page links every version's PDF. Screenshots go to
/tmp/report_*.png."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page
from pypdf import PdfReader

from tests.browser import serve_asgi
from tests.cases.conftest import REPORT, REQUEST
from tests.cases.test_browser import login, site_app  # noqa: F401 - the fixture
from tests.cases.test_report_documents import TUMOUR, region
from tests.conftest import PASSWORD, SMALL_SVS

pytestmark = pytest.mark.browser


def signed_case(app: FastAPI, tokens: dict[str, str], **report: Any) -> dict[str, Any]:
    """Requested, a real slide with a region marked for the report, claimed and signed."""

    def auth(user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[user]}"}

    with TestClient(app) as client:
        case = client.post("/api/cases", json=REQUEST, headers=auth("tech_north")).json()
        slide = client.post(
            "/api/slides",
            headers=auth("tech_north"),
            files={"file": (SMALL_SVS.name, SMALL_SVS.read_bytes())},
        ).json()
        attached = client.post(
            f"/api/cases/{case['id']}/slides",
            json={"slide": slide["id"]},
            headers=auth("tech_north"),
        )
        assert attached.status_code == 200, attached.text
        marked = client.post(
            f"/api/slides/{slide['id']}/annotations",
            json=region(TUMOUR, in_report=True, comment="invasive front"),
            headers=auth("path_north"),
        )
        assert marked.status_code == 201, marked.text
        client.post(f"/api/cases/{case['id']}/claim", headers=auth("path_north"))
        signed = client.post(
            f"/api/cases/{case['id']}/report",
            json={**REPORT, **report, "password": PASSWORD},
            headers=auth("path_north"),
        )
        assert signed.status_code == 200, signed.text
        result: dict[str, Any] = signed.json()
        return result


def print_opens_the_pdf(page: Page, case_id: str) -> bytes:
    link = page.locator(f"[data-print='{case_id}']")
    assert link.inner_text() == "Print report (PDF, version 1)"
    with page.context.expect_page() as opened:
        link.click()
    popup = opened.value
    assert popup.url.endswith(f"/api/cases/{case_id}/report.pdf?version=1")
    # Headless Chromium has no PDF viewer: fetch what the tab opened with its cookies.
    response = page.context.request.get(popup.url)
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    popup.close()
    return response.body()


def test_print_from_the_result_screen(
    browser: Browser,
    site_app: tuple[FastAPI, dict[str, str]],  # noqa: F811
    tmp_path: Path,
) -> None:
    app, tokens = site_app
    note = "for definitive surgery within 2 weeks"
    case = signed_case(app, tokens, transfer=True, transfer_note=note)
    errors: list[str] = []
    with serve_asgi(app) as base:
        surgeon_ctx, room = login(
            browser, base, "surgeon_north", viewport={"width": 1600, "height": 1000}
        )
        room.on("pageerror", lambda error: errors.append(str(error)))
        room.goto(f"{base}/or/NORTH")
        room.wait_for_selector("#link[data-connected=true]")
        room.wait_for_selector(f"[data-case='{case['id']}'] [data-category=malignant]")
        room.screenshot(path="/tmp/report_or_print.png", full_page=True)
        # The two-way referral in words, in a box of its own, and in the read-back.
        transfer = room.inner_text(f"[data-case='{case['id']}'] [data-transfer]")
        assert "TRANSFER TO THE HUB RECOMMENDED" in transfer and note in transfer
        ack = room.locator(f"[data-ack='{case['id']}']")
        assert ack.inner_text() == "Read back & acknowledge: MALIGNANT + TRANSFER TO THE HUB"
        pdf = print_opens_the_pdf(room, case["id"])
        text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
        assert REPORT["diagnosis"] in text and REQUEST["patient_mrn"] in text

        ack.click()
        room.wait_for_selector(f"[data-case='{case['id']}'] [data-acknowledged]")
        with TestClient(app) as client:
            acknowledged = client.get(
                f"/api/cases/{case['id']}",
                headers={"Authorization": f"Bearer {tokens['path_north']}"},
            ).json()
        [read_back] = [a["read_back"] for a in acknowledged["acknowledgements"]]
        assert read_back.endswith("Transfer to the hub recommended"), read_back

        # The room's kiosk screen (signed in for this screen only) prints too.
        room.on("dialog", lambda dialog: dialog.accept())
        room.click("button#kiosk")
        room.wait_for_selector("span#kiosk")
        room.wait_for_selector(f"[data-print='{case['id']}']")
        assert print_opens_the_pdf(room, case["id"]) == pdf
        # ...but nothing else: the FHIR document is for the hospital's systems.
        fhir = room.context.request.get(f"{base}/api/cases/{case['id']}/report.fhir.json")
        assert fhir.status == 401

        # The pathologist's review page links each version's PDF.
        path_ctx, review = login(browser, base, "path_north")
        review.on("pageerror", lambda error: errors.append(str(error)))
        review.goto(f"{base}/cases/{case['id']}")
        review.wait_for_selector("[data-pdf='1']")
        review.screenshot(path="/tmp/report_review_pdf_link.png", full_page=True)
        for context in (surgeon_ctx, path_ctx):
            context.close()
    assert errors == []
