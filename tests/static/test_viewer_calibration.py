"""A picture in the viewer (real app, Chromium): a large one-strip JPEG stored as its
tiled copy opens uncalibrated; a technician sets its pixel size in the panel, and the
scale bar, the magnification and the ruler use it at once and after a reload; a surgeon
is not offered the form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext

from tests.static.test_viewer import SHOTS, open_viewer, stage_box, state
from tests.static.viewer_site import ViewerSite, running_site

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("viewer")]
MPP = 0.5  # what the technician reads off a stage micrometer


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, pictures: dict[str, Path]
) -> Iterator[ViewerSite]:
    with running_site(tmp_path_factory.mktemp("viewer-calibration")) as running:
        path = pictures["large-strip"]
        response = running.client.post(
            "/api/slides",
            headers=running.auth("tech_north"),
            files={"file": (path.name, path.read_bytes())},
        )
        assert response.status_code == 201, response.text
        assert response.json()["mpp_x"] is None
        running.slides["picture"] = response.json()["id"]
        yield running


def test_a_technician_calibrates_a_picture_and_the_viewer_measures_with_it(
    site: ViewerSite, context: BrowserContext
) -> None:
    page = open_viewer(site, context, "tech_north", "picture")
    assert page.locator("#scalebar-text").inner_text() == "no calibration: scale unknown"
    assert page.locator('button[data-mag="20"]').is_disabled()
    assert page.locator("#calibration-box").is_visible()
    assert "no pixel size" in page.locator("#calibration-result").inner_text()
    page.fill("#calibration-mpp", "0")
    page.click("#calibration-form button[type=submit]")
    assert "more than 0" in page.locator("#calibration-result").inner_text()
    page.fill("#calibration-mpp", str(MPP))
    page.click("#calibration-form button[type=submit]")
    page.wait_for_function("() => !document.getElementById('scalebar-text')"
                           ".textContent.startsWith('no calibration')")  # fmt: skip
    assert "0.5000 µm/px" in page.locator("#calibration-result").inner_text()
    assert "(set by a user)" in page.locator("#metadata").inner_text()
    # 10 µm/pixel at 1x by convention: 0.5 µm/px is a 20x-equivalent level 0.
    page.keyboard.press("4")
    page.wait_for_function("() => Math.abs(window.slidebridge.imageZoom - 1) < 1e-3")
    assert page.locator("#mag-readout").inner_text() == "20\u00d7 equivalent"
    label = page.locator("#scalebar-text").inner_text()
    width = page.evaluate("() => parseFloat(document.getElementById('scalebar-line').style.width)")
    value, unit = label.split()
    assert unit == "µm" and float(value) / width == pytest.approx(MPP, rel=0.01)
    box = stage_box(page)
    page.keyboard.press("m")
    page.mouse.move(box["x"] + 200, box["y"] + 300)
    page.mouse.down()
    page.mouse.move(box["x"] + 500, box["y"] + 700, steps=5)
    page.mouse.up()
    assert state(page, "ruler.um") == pytest.approx(500 * MPP, rel=0.005)
    assert page.locator("#measure-readout").inner_text() == "250 µm"
    page.screenshot(path=str(SHOTS / "slidebridge-viewer-calibrated-picture.png"))
    page.reload()
    page.wait_for_function("() => window.slidebridge && window.slidebridge.fullyLoaded")
    assert "(set by a user)" in page.locator("#metadata").inner_text()
    assert not page.locator('button[data-mag="20"]').is_disabled()


def test_a_surgeon_is_not_offered_the_calibration(
    site: ViewerSite, context: BrowserContext
) -> None:
    page = open_viewer(site, context, "surgeon_north", "picture")
    assert not page.locator("#calibration-box").is_visible()
    cmu = open_viewer(site, context, "tech_north", "cmu")  # a scanner's own calibration
    assert not cmu.locator("#calibration-box").is_visible()
