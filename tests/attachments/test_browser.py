"""Chromium: a surgeon attaches a photograph (with GPS tags, held sideways) and a PDF
with JavaScript from the request form; the pathologist sees both on the case's review
page, opens the photograph in the viewer, draws on it, and removes the PDF. Screenshots
go to /tmp/attachments_*.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from tests.attachments.files import pdf, photo_with_gps
from tests.browser import serve_asgi
from tests.cases.conftest import REQUEST
from tests.cases.test_browser import login, site_app

pytestmark = pytest.mark.browser
__all__ = ["site_app"]  # the fixture, shared with the cases' browser test


def test_attach_a_photo_from_the_request_form_open_it_and_annotate_it(
    browser: Browser, site_app: tuple[FastAPI, dict[str, str]], tmp_path: Path
) -> None:
    app, tokens = site_app
    photo = tmp_path / "gross specimen.jpg"
    photo.write_bytes(photo_with_gps(1200, 800))
    prior = tmp_path / "prior report.pdf"
    prior.write_bytes(pdf(javascript=True))
    errors: list[str] = []
    with serve_asgi(app) as base:
        surgeon_ctx, form = login(
            browser, base, "surgeon_north", viewport={"width": 1024, "height": 1366}
        )
        # The pathologist reads Chinese (the browser's language chooses the pages').
        path_ctx, review = login(browser, base, "path_north", locale="zh-CN")
        for page in (form, review):
            page.on("pageerror", lambda error: errors.append(str(error)))

        # The surgeon: the request with a photograph and the earlier report, picked before
        # sending; they go once the case exists.
        form.goto(f"{base}/cases/new")
        assert form.get_attribute("#attach-files", "accept") == "image/*,application/pdf"
        assert form.get_attribute("#attach-camera", "capture") == "environment"
        for name in ("patient_mrn", "patient_name", "specimen_site", "clinical_question"):
            form.fill(f"[name={name}]", REQUEST[name])
        form.set_input_files("#attach-files", [str(photo), str(prior)])
        form.wait_for_selector("#attach-uploads li[data-waiting] >> nth=1")
        form.click("#request button[type=submit]")
        form.wait_for_selector("#upload:not([hidden])")
        case_id = form.evaluate("window.slidebridgeRequest.caseId")
        form.wait_for_selector("#attach-list [data-kind=image]", timeout=30_000)
        form.wait_for_selector("#attach-list [data-kind=document] [data-active]")
        form.wait_for_selector("#attach-list img", timeout=90_000)
        form.screenshot(path="/tmp/attachments_request_form.png", full_page=True)
        assert form.evaluate("window.slidebridgeAttachments.failed") == []

        # The pathologist: both on the review page; the PDF only as a download.
        review.goto(f"{base}/cases/{case_id}")
        review.wait_for_selector("#attachments [data-kind=image] img", timeout=90_000)
        assert "附件" in review.inner_text("main") and "移除" in review.inner_text("#attachments")
        link = review.locator("#attachments [data-pdf]")
        assert link.get_attribute("download") == "prior report.pdf"
        assert "/JavaScript" in review.inner_text("#attachments [data-active]")
        review.wait_for_function(
            "() => [...document.querySelectorAll('#attachments img')]"
            ".every((img) => img.complete && img.naturalWidth > 0)",
            timeout=90_000,
        )
        review.screenshot(path="/tmp/attachments_review.png", full_page=True)
        with path_ctx.expect_page() as opened:
            review.click("#attachments [data-kind=image] a")
        viewer = opened.value
        viewer.wait_for_function(
            "() => window.slidebridge && window.slidebridge.fullyLoaded", timeout=30_000
        )
        viewer.wait_for_function("() => window.slidebridge?.annotationsLoaded", timeout=10_000)
        box = viewer.locator("#overlay").bounding_box()
        assert box is not None
        viewer.click('button[data-tool="rectangle"]')
        viewer.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.3)
        viewer.mouse.down()
        viewer.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=5)
        viewer.mouse.up()
        viewer.wait_for_function("() => window.slidebridge?.store.items.size === 1")
        viewer.screenshot(path="/tmp/attachments_viewer.png")
        slide_id = viewer.url.rsplit("/", 1)[-1]

        # The earlier report was the wrong one: the pathologist takes it off the case, and
        # the surgeon's open form shows it gone.
        review.bring_to_front()
        review.once("dialog", lambda dialog: dialog.accept())
        review.click("#attachments [data-kind=document] [data-remove]")
        review.wait_for_selector("#attachments [data-kind=document]", state="detached")
        form.wait_for_selector("#attach-list [data-kind=document]", state="detached")
        assert review.locator("#attachments [data-kind=image]").count() == 1
        for context in (surgeon_ctx, path_ctx):
            context.close()
    assert errors == []

    with TestClient(app) as client:
        auth = {"Authorization": f"Bearer {tokens['path_north']}"}
        case = client.get(f"/api/cases/{case_id}", headers=auth).json()
        names = {a["name"]: a for a in case["attachments"]}
        assert set(names) == {"gross specimen.jpg"}
        assert names["gross specimen.jpg"]["slide_id"] == slide_id
        # Upright: the 1200x800 photograph held sideways shows as 800x1200.
        slide = client.get(f"/api/slides/{slide_id}", headers=auth).json()
        assert (slide["width"], slide["height"]) == (800, 1200)
        drawn = client.get(f"/api/slides/{slide_id}/annotations", headers=auth).json()
        assert len(drawn["features"]) == 1
