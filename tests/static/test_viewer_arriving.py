"""A slide still crossing the link, in Debian's Chromium on the real app: the viewer opens
before the slide's structure has arrived (a quiet message, no reload), shows the slide from
its structure and coarse levels, sharpens an area in place when its full-resolution tiles
arrive (the canvas changes there, and its tile requests answer `final`), says how much has
arrived and greys the navigator where the picture is still coarse, and becomes an ordinary
viewer once the whole file is in. The worklist, the case page and the slide cards say
"arriving NN %" meanwhile.

The slide's bytes are sent by hand (`Sending`), so every step waits for a condition rather
than a time. Screenshots go to $SLIDEBRIDGE_SCREENSHOTS (default /tmp) as arriving-*.png."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import BrowserContext, Page, Response, expect

from benchmarks.synthetic_slide import SyntheticSlideSpec, build_slide
from tests.cases.conftest import REQUEST
from tests.static.viewer_site import ViewerSite, running_site
from tests.transfers.test_arriving import Sending
from tiler import open_slide

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("viewer-arriving")]
SHOTS = Path(os.environ.get("SLIDEBRIDGE_SCREENSHOTS", "/tmp"))
ARRIVING = re.compile(r"arriving \d{1,2}\s%")
WAIT_MS = 60_000
#: Level-0 pixels of the synthetic slide's full-resolution tiles (its TIFF tiles).
TILE = 240

#: The middle of the viewer's canvas, w x h CSS pixels (whole: the canvas), as RGBA bytes.
MIDDLE = """([w, h]) => {
    const canvas = document.querySelector('#osd .openseadragon-canvas canvas');
    const dpr = window.devicePixelRatio || 1;
    [w, h] = [Math.min(canvas.width, w * dpr), Math.min(canvas.height, h * dpr)];
    const [x, y] = [Math.round(canvas.width / 2 - w / 2), Math.round(canvas.height / 2 - h / 2)];
    return canvas.getContext('2d').getImageData(x, y, w, h).data;
}"""
#: Mean absolute difference (0..255 per channel) between the canvas now and as kept.
CHANGED_SINCE = f"""(name) => {{
    const kept = window[name];
    const [p, q] = [kept.pixels, ({MIDDLE})(kept.size)];
    let sum = 0;
    for (let i = 0; i < p.length; i += 4) {{
      sum += Math.abs(p[i] - q[i]) + Math.abs(p[i + 1] - q[i + 1]) + Math.abs(p[i + 2] - q[i + 2]);
    }}
    return sum / (p.length / 4 * 3);
}}"""
#: Every tile the viewer draws is known final.
ALL_FINAL = """() => {
    const refresh = window.slidebridge.arrival.refresh;
    const drawn = window.slidebridge.viewer.world.getItemAt(0).lastDrawn;
    return drawn.length > 0 && drawn.every((info) => refresh.isFinal(info.tile));
}"""
#: Pixels of the navigator's map that are not transparent: the grey where it is coarse.
GREYED = """() => {
    const map = document.getElementById('arrival-map');
    if (!map || map.hidden || !map.width) return 0;
    const d = map.getContext('2d').getImageData(0, 0, map.width, map.height).data;
    let grey = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) grey++;
    return grey;
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ViewerSite]:
    with running_site(tmp_path_factory.mktemp("arriving-site")) as running:
        yield running


@pytest.fixture(scope="module")
def aperio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Aperio-like frozen section: JPEG tiles at 1x, 4x and 16x, 0.499 µm/px."""
    folder = tmp_path_factory.mktemp("arriving-slide")
    spec = SyntheticSlideSpec(width=6000, height=4500, seed=9, levels=(1, 4, 16), bigtiff=False)
    return build_slide(folder / "frozen.svs", spec)


def tissue_centre(path: Path, window: tuple[int, int]) -> tuple[int, int]:
    """The level-0 centre of the window of that size with the most tissue in it."""
    with open_slide(path) as slide:
        level = len(slide.info.levels) - 1
        factor = round(slide.info.levels[level].downsample)
        width, height = slide.info.levels[level].width, slide.info.levels[level].height
        pixels = np.asarray(slide.read_region((0, 0), level, (width, height)).convert("L"))
    sums = (pixels < 220).astype(np.int64).cumsum(0).cumsum(1)
    w, h = window[0] // factor, window[1] // factor
    ys, xs = np.mgrid[h:height, w:width]
    totals = sums[ys, xs] - sums[ys - h, xs] - sums[ys, xs - w] + sums[ys - h, xs - w]
    y, x = np.unravel_index(int(np.argmax(totals)), totals.shape)
    return int(x + w // 2) * factor, int(y + h // 2) * factor


class TileLog:
    """Every Deep Zoom tile answer the page received, in order: ((z, col, row), finality)."""

    PATH = re.compile(r"/dzi/[^/]+_files/(\d+)/(\d+)_(\d+)\.\w+")

    def __init__(self, page: Page) -> None:
        self.answers: list[tuple[tuple[int, int, int], str]] = []
        page.on("response", self._seen)

    def _seen(self, response: Response) -> None:
        match = self.PATH.search(response.url)
        if match:
            key = (int(match[1]), int(match[2]), int(match[3]))
            self.answers.append((key, response.headers.get("slidebridge-tile", "")))

    def last(self, key: tuple[int, int, int]) -> str | None:
        return next((answer for seen, answer in reversed(self.answers) if seen == key), None)


def viewer_state(page: Page, expression: str) -> Any:
    return page.evaluate(f"() => window.slidebridge.{expression}")


def keep_pixels(page: Page, name: str, size: tuple[int, int] = (300, 200)) -> None:
    """Keep the middle of the canvas (`size` CSS pixels) as it is now, under `name`."""
    page.evaluate(
        f"(size) => {{ window[{name!r}] = {{ size, pixels: ({MIDDLE})(size) }}; }}", list(size)
    )


def drawn_tiles(page: Page) -> list[tuple[int, int, int]]:
    """The full-resolution Deep Zoom tiles the viewer draws now."""
    tiles: list[list[int]] = page.evaluate(
        """() => {
        const image = window.slidebridge.viewer.world.getItemAt(0);
        const top = image.source.maxLevel;
        const drawn = image.lastDrawn.filter((i) => i.level === top);
        return drawn.map((i) => [i.level, i.tile.x, i.tile.y]);
    }"""
    )
    return [(z, x, y) for z, x, y in tiles]


def send_under(sending: Sending, l0_box: tuple[int, int, int, int]) -> None:
    """The file's full-resolution tiles (its level 0) that meet `l0_box`."""
    x0, y0, x1, y1 = l0_box
    for item in sending.layout.ranges:
        meets = any(
            key.level == 0
            and key.t_col * TILE < x1
            and x0 < (key.t_col + 1) * TILE
            and key.t_row * TILE < y1
            and y0 < (key.t_row + 1) * TILE
            for key in item.tiles
        )
        if item.kind == "tile" and meets and (item.start, item.end) not in sending.sent:
            sending.send(item.start, item.end)


def test_an_arriving_slide_sharpens_in_place(
    site: ViewerSite, context: BrowserContext, aperio: Path
) -> None:
    headers = site.auth("tech_north")
    case = site.client.post("/api/cases", json=REQUEST, headers=headers).json()
    sending = Sending(site.client, site, aperio, case=case["id"])  # type: ignore[arg-type]
    page = site.login(context, "path_north")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    tiles = TileLog(page)
    page.goto(f"{site.base}/slides/{sending.slide_id}")

    # Nothing to draw before the structure: a quiet word and the share, no error.
    expect(page.locator("#message")).to_contain_text("Receiving the slide's structure")
    status = page.locator("#status")
    expect(status).to_have_text(
        re.compile(f"^{ARRIVING.pattern} · full resolution first where you look$")
    )
    assert viewer_state(page, "viewer") is None and viewer_state(page, "error") is None
    page.evaluate("() => { window.sameDocument = true; }")  # gone if the page reloads

    # The structure: the viewer opens by itself, size and calibration known.
    sending.send_kind("structure", "associated")
    page.wait_for_function("() => window.slidebridge?.ready", timeout=WAIT_MS)
    expect(page.locator("#message")).to_be_hidden()
    metadata = page.locator("#metadata").inner_text()
    assert "6\u202f000 \u00d7 4\u202f500 px" in metadata and "0.4990" in metadata
    page.wait_for_function("() => window.slidebridge?.fullyLoaded", timeout=WAIT_MS)
    keep_pixels(page, "glass", (10_000, 10_000))

    # The coarse levels: the whole slide shows, sharpened in place.
    for level in (2, 1):
        sending.send_level(level)
    page.wait_for_function(ALL_FINAL, timeout=WAIT_MS)
    assert page.evaluate(CHANGED_SINCE, "glass") > 5

    # At 10x, then 20x over tissue where no full-resolution byte has arrived: interim
    # tiles, asked for again while the pathologist looks (the hub's priority signal).
    centre = tissue_centre(aperio, (1000, 700))
    x, y = centre
    page.mouse.move(400, 400)
    page.evaluate(
        """([x, y]) => {
        const vp = window.slidebridge.viewer.viewport;
        vp.panTo(vp.imageToViewportCoordinates(new OpenSeadragon.Point(x, y)), true);
    }""",
        list(centre),
    )
    for key, objective in (("3", 10), ("4", 20)):
        page.keyboard.press(key)
        page.wait_for_function(
            f"() => Math.abs(window.slidebridge.magnification - {objective}) < 0.1"
        )
        page.wait_for_function("() => window.slidebridge?.fullyLoaded", timeout=WAIT_MS)
    source = "window.slidebridge.viewer.world.getItemAt(0).source"
    size, z_max = page.evaluate(f"() => [{source}.getTileWidth(0), {source}.maxLevel]")
    middle = (z_max, centre[0] // size, centre[1] // size)
    assert middle in drawn_tiles(page) and tiles.last(middle) == "interim"
    with page.expect_response(lambda r: f"/{z_max}/{middle[1]}_{middle[2]}." in r.url):
        pass  # nothing arrives meanwhile: the viewer asks again by itself
    keep_pixels(page, "coarse")
    expect(status).to_have_text(re.compile(f"^{ARRIVING.pattern} · "))
    page.wait_for_function(f"() => ({GREYED})() > 0", timeout=WAIT_MS)
    expect(page.locator("#arrival-caption")).to_have_text("Grey: not yet at full resolution")
    coarse_cells = viewer_state(page, "arrival.map.missing")
    page.screenshot(path=str(SHOTS / "arriving-viewer-coarse.png"))

    # The viewer's own features work meanwhile: the ruler in µm (the calibration came
    # with the structure), another pathologist's annotation live.
    box = page.locator("#overlay").bounding_box()
    assert box is not None
    page.keyboard.press("m")
    page.mouse.move(box["x"] + 200, box["y"] + 300)
    page.mouse.down()
    page.mouse.move(box["x"] + 500, box["y"] + 700, steps=5)
    page.mouse.up()
    assert viewer_state(page, "ruler.um") == pytest.approx(500 * 0.499, rel=0.005)
    page.keyboard.press("Escape")
    site.add_square(sending.slide_id, x, y, 80, "path_second")
    expect(page.locator("#annotation-count")).to_have_text("1")

    # Full resolution under the screen arrives: the centre sharpens in place and its tiles
    # answer final, the navigator's grey gives way there; the page is the same page.
    send_under(sending, (x - 600, y - 450, x + 600, y + 450))
    page.wait_for_function(f"() => ({CHANGED_SINCE})('coarse') > 5", timeout=WAIT_MS)
    page.wait_for_function(
        """([z, x, y]) => {
        const image = window.slidebridge.viewer.world.getItemAt(0);
        return window.slidebridge.arrival.refresh.isFinal(image.tilesMatrix[z][x][y]);
    }""",
        arg=list(middle),
        timeout=WAIT_MS,
    )
    assert tiles.last(middle) == "final"
    page.wait_for_function(
        f"() => window.slidebridge.arrival.map.missing < {coarse_cells}", timeout=WAIT_MS
    )
    assert page.evaluate(GREYED) > 0  # the rest of the slide is still coarse
    assert page.evaluate("() => window.sameDocument") is True
    page.screenshot(path=str(SHOTS / "arriving-viewer.png"))
    page.locator("#osd .navigator").screenshot(path=str(SHOTS / "arriving-navigator.png"))

    # The case's screens and the slide cards say how much has arrived, in words.
    others = context.new_page()
    others.goto(f"{site.base}/cases")
    row = others.locator(f'tr[data-case="{case["id"]}"]')
    expect(row).to_contain_text(ARRIVING, timeout=WAIT_MS)
    others.screenshot(path=str(SHOTS / "arriving-worklist.png"))
    review = context.new_page()
    review.goto(f"{site.base}/cases/{case['id']}")
    expect(review.locator("#slide-state")).to_have_text(re.compile(f"^{ARRIVING.pattern}"))
    review.screenshot(path=str(SHOTS / "arriving-case.png"))
    review.close()
    cards = context.new_page()
    cards.goto(f"{site.base}/")
    card = cards.locator(f'[data-slide="{sending.slide_id}"] .status')
    expect(card).to_have_text(re.compile(f"^{ARRIVING.pattern} · viewable now$"))
    cards.screenshot(path=str(SHOTS / "arriving-slides.png"))
    cards.close()

    # The rest: the viewer is an ordinary one, every tile final, the map gone; the
    # worklist no longer says arriving.
    page.bring_to_front()  # a tab in the background draws (and loads) once a second
    sending.rest()
    expect(status).not_to_contain_text("arriving", timeout=WAIT_MS)
    assert viewer_state(page, "arrival.status") == "queued"
    expect(page.locator("#arrival-map")).to_be_hidden()
    expect(page.locator("#arrival-caption")).to_be_hidden()
    page.wait_for_function(ALL_FINAL, timeout=WAIT_MS)
    # Back at 10x, tiles left interim off screen come again, final (not from memory).
    page.keyboard.press("3")
    page.wait_for_function("() => Math.abs(window.slidebridge.magnification - 10) < 0.1")
    page.wait_for_function("() => window.slidebridge?.fullyLoaded", timeout=WAIT_MS)
    page.wait_for_function(ALL_FINAL, timeout=WAIT_MS)
    expect(row).not_to_contain_text("arriving", timeout=WAIT_MS)
    expect(row).to_contain_text("1/1 viewable")
    assert page.evaluate("() => window.sameDocument") is True
    assert not errors, errors


def test_a_transfer_that_fails_says_so_and_keeps_what_arrived(
    site: ViewerSite, context: BrowserContext, aperio: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.svs"  # one trailing byte apart: another file to the hub
    other.write_bytes(aperio.read_bytes() + b"\0")
    sending = Sending(site.client, site, other)  # type: ignore[arg-type]
    sending.send_kind("structure")
    sending.send_level(2)
    page = site.login(context, "path_north")
    page.goto(f"{site.base}/slides/{sending.slide_id}")
    page.wait_for_function("() => window.slidebridge?.fullyLoaded", timeout=WAIT_MS)
    # The rest of the bytes are not the file that was declared: the whole file's SHA-256
    # differs and the hub refuses it once the last byte is in.
    sending.data = sending.data[:-1] + bytes([sending.data[-1] ^ 0xFF])
    with pytest.raises(AssertionError, match="SHA-256 differs"):
        sending.rest()  # the last range completes the file: refused (422)
    expect(page.locator("#status")).to_have_text("Failed", timeout=WAIT_MS)
    expect(page.locator("#message")).to_contain_text("The slide's transfer failed: ")
    expect(page.locator("#message")).to_contain_text("SHA-256")
    tissue = page.evaluate(
        f"""() => {{
        const d = ({MIDDLE})([10000, 10000]);
        let tissue = 0;
        for (let i = 0; i < d.length; i += 4) tissue += Math.min(d[i], d[i + 1], d[i + 2]) < 200;
        return tissue / (d.length / 4);
    }}"""
    )
    assert tissue > 0.1  # what arrived stays on screen
    expect(page.locator("#arrival-map")).to_be_hidden()
