"""The viewer at /slides/{id} on the real app in Debian's Chromium: tiles on the canvas,
magnification and scale, each annotation type drawn with the mouse and found after a
reload, a ruler on a slide of known mpp, GeoJSON export and re-import, live changes and
follow-me between two browser contexts, and the messages for unusual slides."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.static.viewer_site import ViewerSite, running_site

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("viewer")]
QUPATH = Path(__file__).resolve().parents[1] / "annotations" / "fixtures" / "qupath_export.geojson"
MPP = 0.499
SHOTS = Path("/tmp")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ViewerSite]:
    with running_site(tmp_path_factory.mktemp("viewer")) as running:
        yield running


def open_viewer(site: ViewerSite, context: BrowserContext, user: str, slide: str) -> Page:
    page = site.login(context, user)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{site.base}/slides/{site.slides[slide]}")
    page.wait_for_function(
        "() => window.slidebridge && window.slidebridge.fullyLoaded", timeout=30_000
    )
    page.wait_for_function("() => window.slidebridge?.annotationsLoaded", timeout=10_000)
    page.wait_for_function("() => document.body.dataset.live === 'connected'", timeout=10_000)
    assert not errors
    return page


def state(page: Page, expression: str) -> Any:
    return page.evaluate(f"() => window.slidebridge.{expression}")


def tissue_pixels(page: Page) -> dict[str, int]:
    result: dict[str, int] = page.evaluate(
        """() => {
        const canvas = document.querySelector('#osd .openseadragon-canvas canvas');
        const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let pink = 0, white = 0;
        for (let i = 0; i < d.length; i += 4) {
          const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
          if (r > 235 && g > 235 && b > 235) white++;
          else if (r > g + 20 && b > g) pink++;
        }
        return {pink, white, total: d.length / 4};
    }"""
    )
    return result


def overlay_pixel(page: Page, x: float, y: float) -> list[int]:
    pixel: list[int] = page.evaluate(
        """([x, y]) => {
        const c = document.getElementById('overlay');
        const dpr = window.devicePixelRatio || 1;
        const [px, py] = [Math.round(x * dpr), Math.round(y * dpr)];
        return Array.from(c.getContext('2d').getImageData(px, py, 1, 1).data);
    }""",
        [x, y],
    )
    return pixel


def stage_box(page: Page) -> dict[str, float]:
    box = page.locator("#overlay").bounding_box()
    assert box is not None
    return box


def test_tiles_render_with_metadata_magnification_and_scale(
    site: ViewerSite, context: BrowserContext
) -> None:
    page = open_viewer(site, context, "path_north", "cmu")
    stats = tissue_pixels(page)
    assert stats["pink"] > 0.05 * stats["total"] and stats["white"] > 0.05 * stats["total"], stats
    metadata = page.locator("#metadata").inner_text()
    assert "CMU-1-Small-Region.svs" in metadata and "NORTH" in metadata
    assert "0.4990" in metadata and "20\u00d7" in metadata
    page.keyboard.press("3")  # 10x
    page.wait_for_function("() => Math.abs(window.slidebridge.magnification - 10) < 0.05")
    assert page.locator("#mag-readout").inner_text() == "10\u00d7 equivalent"
    # At 10x on a 20x scan one screen pixel is two slide pixels: 0.998 µm.
    label = page.locator("#scalebar-text").inner_text()
    width = page.evaluate("() => parseFloat(document.getElementById('scalebar-line').style.width)")
    value, unit = label.split()
    microns = float(value) * (1000 if unit == "mm" else 1)
    assert unit in {"µm", "mm"}
    assert microns / width == pytest.approx(MPP * 2, rel=0.01)
    page.click('button[data-mag="40"]')
    page.wait_for_function("() => Math.abs(window.slidebridge.magnification - 40) < 0.1")
    page.keyboard.press("r")
    page.wait_for_function("() => window.slidebridge?.viewer.viewport.getRotation() === 90")
    page.keyboard.press("0")
    page.wait_for_function("() => window.slidebridge?.fullyLoaded")
    page.screenshot(path=str(SHOTS / "slidebridge-viewer-rotated.png"))


def draw(page: Page, tool: str, points: list[tuple[float, float]], *, drag: bool = True) -> None:
    box = stage_box(page)
    page.click(f'button[data-tool="{tool}"]')
    absolute = [(box["x"] + x, box["y"] + y) for x, y in points]
    if tool == "polygon":
        for x, y in absolute:
            page.mouse.click(x, y)
        page.keyboard.press("Enter")
    elif tool == "point":
        page.mouse.click(*absolute[0])
    else:
        page.mouse.move(*absolute[0])
        page.mouse.down()
        for x, y in absolute[1:]:
            page.mouse.move(x, y, steps=4)
        page.mouse.up()
    page.click(f'button[data-tool="{tool}"]')  # tool off again


def test_draw_each_annotation_type_and_find_them_after_reload(
    site: ViewerSite, context: BrowserContext
) -> None:
    site.clear("cmu")
    page = open_viewer(site, context, "path_north", "cmu")
    page.fill("#comment", "check this margin")
    draw(page, "rectangle", [(300, 150), (420, 260)])
    page.click("#classes input[value='Necrosis']")
    draw(page, "ellipse", [(450, 150), (560, 230)])
    draw(page, "polygon", [(300, 320), (420, 330), (380, 420), (290, 400)])
    draw(page, "freehand", [(470, 320), (560, 330), (570, 420), (500, 440), (460, 400)])
    draw(page, "point", [(620, 200)])
    page.wait_for_function("() => window.slidebridge?.store.items.size === 5")
    assert page.locator("#annotation-error").inner_text() == ""
    # Drawn on the overlay canvas: the rectangle's top edge is Tumour red.
    r, g, b, a = overlay_pixel(page, 360, 150)
    assert a > 200 and r > 150 and g < 60 and b < 60, (r, g, b, a)
    page.screenshot(path=str(SHOTS / "slidebridge-viewer-annotations.png"))
    page.reload()
    page.wait_for_function(
        "() => window.slidebridge?.annotationsLoaded && window.slidebridge.fullyLoaded"
    )
    saved = site.annotations("cmu")
    shapes = sorted(f["properties"]["metadata"]["shape"] for f in saved)
    assert shapes == ["ellipse", "freehand", "point", "polygon", "rectangle"]
    classes = {
        f["properties"]["metadata"]["shape"]: f["properties"]["classification"]["name"]
        for f in saved
    }
    assert classes["rectangle"] == "Tumour" and classes["ellipse"] == "Necrosis"
    assert all(f["properties"]["metadata"]["comment"] == "check this margin" for f in saved)
    assert page.evaluate("() => window.slidebridge.store.items.size") == 5
    # Selecting the rectangle shows its true area and perimeter in µm.
    rectangle = next(f for f in saved if f["properties"]["metadata"]["shape"] == "rectangle")
    page.mouse.click(stage_box(page)["x"] + 360, stage_box(page)["y"] + 200)
    page.wait_for_function(f"() => window.slidebridge.selected === '{rectangle['id']}'")
    size = page.locator("#selection-size").inner_text()
    assert "µm²" in size and "perimeter" in size, size
    page.screenshot(path=str(SHOTS / "slidebridge-viewer-selected.png"))
    # Marked "include in report": pictured in the signed report's PDF.
    page.check("#in-report")
    page.wait_for_function(
        f"() => window.slidebridge.store.items.get('{rectangle['id']}')"
        ".feature.properties.metadata.includeInReport === 'true'"
    )
    marked = next(f for f in site.annotations("cmu") if f["id"] == rectangle["id"])
    assert marked["properties"]["metadata"]["includeInReport"] == "true"
    assert page.is_checked("#in-report")
    page.screenshot(path=str(SHOTS / "slidebridge-viewer-in-report.png"))


def test_ruler_measures_a_known_distance(site: ViewerSite, context: BrowserContext) -> None:
    before = site.annotations("cmu")
    page = open_viewer(site, context, "surgeon_north", "cmu")
    page.keyboard.press("4")  # 20x on a 20x scan: one screen pixel is one slide pixel
    page.wait_for_function("() => Math.abs(window.slidebridge.imageZoom - 1) < 1e-3")
    box = stage_box(page)
    page.keyboard.press("m")
    page.mouse.move(box["x"] + 200, box["y"] + 300)
    page.mouse.down()
    page.mouse.move(box["x"] + 500, box["y"] + 700, steps=5)
    page.mouse.up()
    expected = 500 * MPP  # a 300 x 400 pixel diagonal
    assert state(page, "ruler.um") == pytest.approx(expected, rel=0.005)
    assert page.locator("#measure-readout").inner_text() == f"{expected:.0f} µm"
    assert site.annotations("cmu") == before  # measuring saves nothing
    page.screenshot(path=str(SHOTS / "slidebridge-viewer-ruler.png"))


def test_qupath_geojson_uploads_and_downloads_unchanged(
    site: ViewerSite, context: BrowserContext, tmp_path: Path
) -> None:
    site.clear("cmu")
    page = open_viewer(site, context, "path_north", "cmu")
    page.set_input_files("#import", str(QUPATH))
    page.wait_for_function("() => window.slidebridge?.store.items.size === 5")
    with page.expect_download() as download:
        page.click("#export")
    target = tmp_path / "export.geojson"
    download.value.save_as(target)
    assert json.loads(target.read_text()) == json.loads(QUPATH.read_text())
    site.clear("cmu")
    page.reload()
    page.wait_for_function("() => window.slidebridge?.annotationsLoaded")
    page.set_input_files("#import", str(target))
    page.wait_for_function("() => window.slidebridge?.store.items.size === 5")
    names = {
        item["properties"].get("classification", {}).get("name") for item in site.annotations("cmu")
    }
    assert names == {"Tumor", "Stroma", "Necrosis", "Lymph node", None}
    # A broken file is refused with the reason, and nothing of it is stored.
    bad = json.loads(QUPATH.read_text())
    bad["features"][0]["geometry"]["coordinates"][0][2] = [99999, 5]
    (tmp_path / "bad.geojson").write_text(json.dumps(bad))
    page.set_input_files("#import", str(tmp_path / "bad.geojson"))
    page.wait_for_function("() => document.getElementById('annotation-error').textContent !== ''")
    assert "outside the slide" in page.locator("#annotation-error").inner_text()
    page.screenshot(path=str(SHOTS / "slidebridge-viewer-qupath.png"))


def test_live_changes_and_follow_me(site: ViewerSite, browser: Browser) -> None:
    site.clear("cmu")
    contexts = [
        browser.new_context(viewport={"width": 1400, "height": 850}, bypass_csp=True)
        for _ in range(2)
    ]
    try:
        presenter = open_viewer(site, contexts[0], "path_north", "cmu")
        follower = open_viewer(site, contexts[1], "surgeon_north", "cmu")
        draw(presenter, "rectangle", [(300, 300), (400, 380)])
        # Live, without a reload (how fast is `benchmarks.annotations`' business).
        follower.wait_for_function("() => window.slidebridge?.store.items.size === 1")
        # The surgeon may not draw, only measure.
        assert follower.locator('button[data-tool="rectangle"]').is_disabled()
        presenter.click("#share")
        follower.wait_for_selector('button.follow[data-presenter="path_north"]')
        follower.click('button.follow[data-presenter="path_north"]')
        presenter.keyboard.press("3")
        presenter.wait_for_function("() => Math.abs(window.slidebridge.magnification - 10) < 0.05")
        presenter.mouse.move(stage_box(presenter)["x"] + 500, stage_box(presenter)["y"] + 400)
        follower.wait_for_function("() => Math.abs(window.slidebridge.magnification - 10) < 0.1")
        centre = (
            "() => { const v = window.slidebridge.viewer.viewport;"
            " const c = v.viewportToImageCoordinates(v.getCenter(true)); return [c.x, c.y]; }"
        )
        follower.wait_for_function("() => window.slidebridge?.overlay.pointer !== null")
        follower.wait_for_function(
            f"() => {{ const [x, y] = ({centre})(); const [px, py] = {presenter.evaluate(centre)};"
            " return Math.abs(x - px) <= 2 && Math.abs(y - py) <= 2; }"
        )
        assert follower.locator('button[data-tool="ruler"]').is_disabled()
        follower.screenshot(path=str(SHOTS / "slidebridge-viewer-follower.png"))
        follower.click("#unfollow")
        assert not follower.locator('button[data-tool="ruler"]').is_disabled()
    finally:
        for ctx in contexts:
            ctx.close()


def test_messages_for_uncalibrated_failed_and_unknown_slides(
    site: ViewerSite, context: BrowserContext
) -> None:
    page = open_viewer(site, context, "path_north", "boxes")
    assert page.locator("#scalebar-text").inner_text() == "no calibration: scale unknown"
    assert "no calibration" in page.locator("#mag-readout").inner_text()
    assert "µm" not in page.locator("#measure-readout").inner_text()
    page.screenshot(path=str(SHOTS / "slidebridge-viewer-uncalibrated.png"))
    page.goto(f"{site.base}/slides/{site.slides['failed']}")
    page.wait_for_function("() => window.slidebridge && window.slidebridge.error")
    assert "ends early" in page.locator("#message").inner_text()
    page.screenshot(path=str(SHOTS / "slidebridge-viewer-failed.png"))
    page.goto(f"{site.base}/slides/00000000-0000-0000-0000-000000000000")
    page.wait_for_function("() => window.slidebridge && window.slidebridge.error")
    assert "does not exist" in page.locator("#message").inner_text()


def test_ten_thousand_annotations_stay_smooth(site: ViewerSite, context: BrowserContext) -> None:
    features = []
    for i in range(10_000):
        x, y = 5 + (i % 100) * 10, 5 + (i // 100) * 10
        ring = [[x, y], [x + 8, y], [x + 8, y + 8], [x, y + 8], [x, y]]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "objectType": "annotation",
                    "classification": {
                        "name": "Tumor" if i % 2 else "Stroma",
                        "color": [200, 0, 0] if i % 2 else [0, 150, 0],
                    },
                },
            }
        )
    slide = site.slides["crowded"]
    response = site.client.post(
        f"/api/slides/{slide}/annotations",
        json={"type": "FeatureCollection", "features": features},
        headers=site.auth("path_north"),
    )
    assert response.status_code == 201, response.text[:300]
    page = open_viewer(site, context, "path_north", "crowded")
    assert state(page, "store.items.size") == 10_000
    # All of them are painted, on the one overlay canvas (frame times are measured by
    # `python -m benchmarks.annotations`, not asserted here).
    painted = page.evaluate(
        """() => {
        window.slidebridge.overlay.render();
        const c = document.querySelector('#overlay');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
        return n;
    }"""
    )
    assert painted > 10_000, painted
    page.screenshot(path=str(SHOTS / "slidebridge-viewer-10k.png"))
    assert page.locator("#overlay").count() == 1 and page.locator("svg, .annotation").count() == 0
