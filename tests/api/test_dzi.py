"""Deep Zoom over HTTP: the .dzi, tiles (live and from the built pyramid), validators, bad paths."""

from __future__ import annotations

import io
import time
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.core.config import Settings
from app.core.db import Database
from tests.conftest import PASSWORD, World
from tiler.deepzoom import DeepZoomGrid
from workers.embedded import EmbeddedWorkers

GRID = DeepZoomGrid(2220, 2967)  # CMU-1-Small-Region.svs


def test_dzi_describes_the_slide(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    response = client.get(f"/dzi/{north_slide['id']}.dzi", headers=world.auth("path_north"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.text)
    assert (root.get("Format"), root.get("TileSize"), root.get("Overlap")) == ("jpeg", "254", "1")
    size = root.find("{http://schemas.microsoft.com/deepzoom/2008}Size")
    assert size is not None and (size.get("Width"), size.get("Height")) == ("2220", "2967")


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_live_tiles_have_grid_sizes_and_validators(
    client: TestClient, world: World, north_slide: dict[str, Any], fmt: str
) -> None:
    z = GRID.level_count - 1
    headers = world.auth("surgeon_north")
    for col, row in ((0, 0), (1, 2), GRID.tile_counts(z)):
        col, row = min(col, GRID.tile_counts(z)[0] - 1), min(row, GRID.tile_counts(z)[1] - 1)
        response = client.get(
            f"/dzi/{north_slide['id']}_files/{z}/{col}_{row}.{fmt}", headers=headers
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == f"image/{fmt}"
        box = GRID.tile_box(z, col, row)
        image = Image.open(io.BytesIO(response.content))
        assert image.format == fmt.upper() and image.size == (box.width, box.height)
        assert response.headers["cache-control"].startswith("private")
        assert response.headers["x-content-type-options"] == "nosniff"
        etag = response.headers["etag"]
        assert "live" in etag
        again = client.get(
            f"/dzi/{north_slide['id']}_files/{z}/{col}_{row}.{fmt}",
            headers={**headers, "If-None-Match": etag},
        )
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag


def test_tiles_accept_the_session_cookie(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    client.post("/login", data={"username": "path_north", "password": PASSWORD})
    assert client.get(f"/dzi/{north_slide['id']}.dzi").status_code == 200
    assert client.get(f"/dzi/{north_slide['id']}_files/0/0_0.jpeg").status_code == 200
    assert client.get(f"/iiif/3/{north_slide['id']}/info.json").status_code == 200


def test_tiles_need_credentials(client: TestClient, north_slide: dict[str, Any]) -> None:
    assert client.get(f"/dzi/{north_slide['id']}_files/0/0_0.jpeg").status_code == 401
    assert client.get(f"/dzi/{north_slide['id']}.dzi").status_code == 401


def bad_paths(slide_id: str) -> list[str]:
    top = GRID.level_count - 1
    cols, rows = GRID.tile_counts(top)
    return [
        "/dzi/not-a-uuid.dzi",
        "/dzi/00000000-0000-0000-0000-000000000000.dzi",
        f"/dzi/{slide_id}_files/-1/0_0.jpeg",
        f"/dzi/{slide_id}_files/{GRID.level_count}/0_0.jpeg",
        f"/dzi/{slide_id}_files/99999999999999999999/0_0.jpeg",
        f"/dzi/{slide_id}_files/{top}/{cols}_0.jpeg",
        f"/dzi/{slide_id}_files/{top}/0_{rows}.jpeg",
        f"/dzi/{slide_id}_files/{top}/-1_0.jpeg",
        f"/dzi/{slide_id}_files/{top}/0_0.png",
        f"/dzi/{slide_id}_files/{top}/0_0.jpeg.gif",
        f"/dzi/{slide_id}_files/{top}/a_b.jpeg",
        f"/dzi/{slide_id}_files/{top}/0_0",
        f"/dzi/{slide_id}_files/../../../etc/passwd",
        f"/dzi/{slide_id}_files/{top}/..%2F..%2F0_0.jpeg",
        f"/dzi/..%2F{slide_id}.dzi",
        f"/dzi/{slide_id}_files/1e3/0_0.jpeg",
        f"/dzi/{slide_id}_files/%00/0_0.jpeg",
        f"/iiif/3/{slide_id}/..%2F..%2Finfo.json",
        f"/iiif/3/{slide_id}/full/max/0/default.gif",
        f"/iiif/3/{slide_id}/full/max/45/default.jpg",
        f"/iiif/3/{slide_id}/-1,0,10,10/max/0/default.jpg",
        f"/iiif/3/{slide_id}/99999,0,10,10/max/0/default.jpg",
        f"/iiif/3/{slide_id}/0,0,0,10/max/0/default.jpg",
        f"/iiif/3/{slide_id}/full/0,/0/default.jpg",
        f"/iiif/3/{slide_id}/full/99999,/0/default.jpg",
        f"/iiif/3/{slide_id}/full/pct:abc/0/default.jpg",
        f"/iiif/3/{slide_id}/full/max/0/default",
        "/iiif/3/not-a-uuid/info.json",
    ]


def test_bad_requests_are_404_or_422_with_a_reason_never_500(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    headers = world.auth("admin")
    for path in bad_paths(north_slide["id"]):
        response = client.get(path, headers=headers)
        # IIIF says 400 for its bad requests.
        assert response.status_code in (400, 404, 413, 422), (path, response.status_code)
        detail = response.json()["detail"]
        assert detail, path


def test_tiles_come_from_the_pyramid_once_built(
    client: TestClient, world: World, north_slide: dict[str, Any], db: Database, settings: Settings
) -> None:
    z = GRID.level_count - 1
    url = f"/dzi/{north_slide['id']}_files/{z}/1_1.jpeg"
    headers = world.auth("path_north")
    live = client.get(url, headers=headers)
    assert EmbeddedWorkers(db, settings).run_once("test-worker")
    slide = client.get(f"/api/slides/{north_slide['id']}", headers=headers).json()
    assert (slide["status"], slide["progress"]) == ("ready", 1.0)
    built = client.get(url, headers=headers)
    assert built.status_code == 200
    assert "pyramid" in built.headers["etag"] and built.headers["etag"] != live.headers["etag"]
    assert Image.open(io.BytesIO(built.content)).size == Image.open(io.BytesIO(live.content)).size
    stale = client.get(url, headers={**headers, "If-None-Match": live.headers["etag"]})
    assert stale.status_code == 200  # the old validator no longer matches
    assert (
        client.get(f"/dzi/{north_slide['id']}.dzi", headers=headers).text
        == client.get(f"/dzi/{north_slide['id']}.dzi", headers=headers).text
    )
    webp = client.get(url.replace(".jpeg", ".webp"), headers=headers)
    assert webp.status_code == 200 and "live" in webp.headers["etag"]


def test_tile_access_is_reused_briefly_then_rechecked(
    client: TestClient, world: World, north_slide: dict[str, Any], app: Any
) -> None:
    """Tiles re-use the credential check for `tile_access_seconds`; a revoked token
    keeps its tiles no longer than that, while every other route refuses it at once."""
    from tests.api.test_auth import token_for

    app.state.tile_access.settings = app.state.settings.model_copy(
        update={"tile_access_seconds": 3.0}
    )
    token = token_for(client, "path_north")
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/dzi/{north_slide['id']}_files/0/0_0.jpeg"
    assert client.get(url, headers=headers).status_code == 200
    assert client.post("/api/auth/revoke", headers=headers).status_code == 204
    assert client.get("/api/slides", headers=headers).status_code == 401
    assert client.get(url, headers=headers).status_code == 200  # within the grace
    time.sleep(3.1)
    refused = client.get(url, headers=headers)
    assert refused.status_code == 401 and refused.json() == {"detail": "token revoked"}
    # Another site's user gets nothing from the first user's grant.
    other = client.get(url, headers=world.auth("tech_south"))
    assert other.status_code == 404
