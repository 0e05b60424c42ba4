"""OpenSeadragon, installed from npm by the project, shows a DZI built by our tiler:
checked on the canvas's pixels in Chromium, not on the DOM."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from tests.browser import serve_asgi
from tiler.pyramid import build_pyramid

REPO = Path(__file__).resolve().parents[2]
OSD = REPO / "static" / "node_modules" / "openseadragon" / "build" / "openseadragon"

PAGE = """<!doctype html><html><body style="margin:0">
<div id="v" style="width:600px;height:600px;background:#000"></div>
<script src="/osd/openseadragon.min.js"></script>
<script>
window.viewer = OpenSeadragon({id: "v", tileSources: "/dzi/CMU-1-Small-Region.dzi",
  showNavigationControl: false, drawer: "canvas", animationTime: 0, immediateRender: true});
window.viewer.world.addHandler("add-item", e => {
  e.item.addHandler("fully-loaded-change", ev => { window.loaded = ev.fullyLoaded; });
});
</script></body></html>"""


def test_openseadragon_renders_our_dzi(
    browser: Browser, shared_slides: Path, tmp_path: Path
) -> None:
    assert (OSD / "openseadragon.min.js").is_file(), "npm packages missing: run make"
    build_pyramid(shared_slides / "aperio/CMU-1-Small-Region.svs", tmp_path / "dzi")
    (tmp_path / "page").mkdir()
    (tmp_path / "page" / "index.html").write_text(PAGE)
    app = Starlette(
        routes=[
            Mount("/osd", StaticFiles(directory=OSD)),
            Mount("/dzi", StaticFiles(directory=tmp_path / "dzi")),
            Mount("/", StaticFiles(directory=tmp_path / "page", html=True)),
        ]
    )
    with serve_asgi(app) as base:
        page = browser.new_page()
        failed: list[str] = []
        page.on("requestfailed", lambda request: failed.append(request.url))
        page.goto(f"{base}/index.html")
        page.wait_for_function("window.loaded === true", timeout=20_000)
        stats = page.evaluate(
            """() => {
            const canvas = document.querySelector('#v canvas');
            const ctx = canvas.getContext('2d');
            const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            let pink = 0, white = 0, black = 0;
            for (let i = 0; i < d.length; i += 4) {
              const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
              if (r > 235 && g > 235 && b > 235) white++;
              else if (r < 20 && g < 20 && b < 20) black++;
              else if (r > g + 20 && b > g) pink++;  // H&E stained tissue
            }
            return {pink, white, black, total: d.length / 4};
        }"""
        )
        page.close()
    assert not failed
    total = stats["total"]
    # The portrait slide (2220 x 2967) fits the square viewer with black bars of
    # (1 - 2220/2967) of its width: the DZI's size was read right.
    assert abs(stats["black"] / total - (1 - 2220 / 2967)) < 0.02, stats
    # H&E-stained tissue and white glass, as the slide holds them.
    assert stats["pink"] > 0.15 * total and stats["white"] > 0.25 * total, stats
