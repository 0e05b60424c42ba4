"""IIIF Image API 3.0: info.json and rendered regions, sizes, rotations, qualities, formats;
what the spec calls a bad request (400); cross-origin viewers (CORS)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.core.config import Settings
from tests.conftest import World

W, H = 2220, 2967
VIEWER = "https://viewer.example.org"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"iiif_cors_origins": [VIEWER]})


def get_image(client: TestClient, world: World, slide_id: str, params: str) -> Image.Image:
    response = client.get(f"/iiif/3/{slide_id}/{params}", headers=world.auth("path_north"))
    assert response.status_code == 200, (params, response.text)
    assert response.headers["cache-control"].startswith("private")
    return Image.open(io.BytesIO(response.content))


def test_info_json(client: TestClient, world: World, north_slide: dict[str, Any]) -> None:
    response = client.get(
        f"/iiif/3/{north_slide['id']}/info.json", headers=world.auth("path_north")
    )
    assert response.status_code == 200
    # Plain JSON unless the client asks for JSON-LD (spec 5.1).
    assert response.headers["content-type"] == "application/json"
    assert "Accept" in response.headers["vary"]
    asked = client.get(
        f"/iiif/3/{north_slide['id']}/info.json",
        headers={**world.auth("path_north"), "Accept": "application/ld+json"},
    )
    assert asked.headers["content-type"] == (
        'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
    )
    assert asked.json() == response.json()
    info = response.json()
    assert info["@context"] == "http://iiif.io/api/image/3/context.json"
    assert info["type"] == "ImageService3" and info["profile"] == "level2"
    assert info["id"] == f"https://testserver/iiif/3/{north_slide['id']}"
    assert (info["width"], info["height"]) == (W, H)
    [tiles] = info["tiles"]
    assert tiles["width"] == 512 and tiles["scaleFactors"] == [1, 2, 4, 8]
    assert {"width": W, "height": H} in info["sizes"]
    assert all(size["width"] <= W for size in info["sizes"])
    assert info["extraQualities"] == ["color", "gray", "bitonal"]
    redirect = client.get(
        f"/iiif/3/{north_slide['id']}", headers=world.auth("path_north"), follow_redirects=False
    )
    assert redirect.status_code == 303 and redirect.headers["location"].endswith("/info.json")


@pytest.mark.parametrize(
    ("params", "size", "mode", "fmt"),
    [
        ("0,0,512,512/256,/0/default.jpg", (256, 256), "RGB", "JPEG"),
        ("full/max/0/default.jpg", (W, H), "RGB", "JPEG"),
        ("full/,300/0/default.png", (224, 300), "RGB", "PNG"),
        ("square/100,100/0/color.webp", (100, 100), "RGB", "WEBP"),
        ("pct:0,0,50,50/pct:10/0/default.jpg", (111, 148), "RGB", "JPEG"),
        ("1000,1000,400,200/!100,100/90/gray.png", (50, 100), "L", "PNG"),
        ("2000,2900,1000,1000/max/180/default.jpg", (220, 67), "RGB", "JPEG"),
        ("0,0,100,50/^200,/!270/default.png", (100, 200), "RGB", "PNG"),
        ("full/100,80/0/default.jpg", (100, 80), "RGB", "JPEG"),
        ("0,0,300,200/150,/0/bitonal.png", (150, 100), "1", "PNG"),
        ("0,0,300,200/150,/0/bitonal.jpg", (150, 100), "L", "JPEG"),
        ("0,0,300,200/!150,599/0/default.png", (150, 100), "RGB", "PNG"),
        ("0,0,1000,1000/!437,599/0/default.png", (437, 437), "RGB", "PNG"),
        ("0,0,100,100/^!437,599/360/color.png", (437, 437), "RGB", "PNG"),
    ],
)
def test_regions_and_sizes(
    client: TestClient,
    world: World,
    north_slide: dict[str, Any],
    params: str,
    size: tuple[int, int],
    mode: str,
    fmt: str,
) -> None:
    image = get_image(client, world, north_slide["id"], params)
    assert (image.size, image.mode, image.format) == (size, mode, fmt)


def test_rotation_and_mirroring_move_pixels(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    region = "0,0,300,200/max"
    plain = np.asarray(get_image(client, world, north_slide["id"], f"{region}/0/default.png"))
    turned = np.asarray(get_image(client, world, north_slide["id"], f"{region}/90/default.png"))
    mirrored = np.asarray(get_image(client, world, north_slide["id"], f"{region}/!0/default.png"))
    assert np.array_equal(turned, np.rot90(plain, k=-1))  # IIIF turns clockwise
    assert np.array_equal(mirrored, plain[:, ::-1])


def test_bitonal_is_black_and_white(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    image = get_image(client, world, north_slide["id"], "0,0,600,600/300,/0/bitonal.jpg")
    gray = np.asarray(get_image(client, world, north_slide["id"], "0,0,600,600/300,/0/gray.png"))
    values = np.asarray(image)
    # JPEG rounds the edges between black and white; the rest is one or the other.
    assert np.mean((values < 32) | (values > 223)) > 0.95
    assert np.mean((values > 127) == (gray >= 128)) > 0.95


@pytest.mark.parametrize(
    "params",
    [
        "abc/max/0/default.jpg",  # region syntax
        "pct:1,2,3/max/0/default.jpg",
        "5000,0,10,10/max/0/default.jpg",  # outside the image
        "0,0,0,10/max/0/default.jpg",  # empty
        "full/abc/0/default.jpg",  # size syntax
        "full/0,/0/default.jpg",  # empty size
        "full/full/0/default.jpg",  # 2.x syntax, gone in 3.0
        "0,0,100,100/200,/0/default.jpg",  # larger than the region without ^
        "0,0,100,100/pct:150/0/default.jpg",
        "0,0,100,100/!200,300/0/default.jpg",
        "full/^9000,/0/default.jpg",  # above maxWidth
        "full/max/45/default.jpg",  # arbitrary rotation: not supported
        "full/max/361/default.jpg",
        "full/max/abc/default.jpg",
        "full/max/0/sepia.jpg",
        "full/max/0/default.gif",  # a IIIF format we do not serve
        "full/max/0/default",
    ],
)
def test_bad_requests_are_400(
    client: TestClient, world: World, north_slide: dict[str, Any], params: str
) -> None:
    response = client.get(f"/iiif/3/{north_slide['id']}/{params}", headers=world.auth("path_north"))
    assert response.status_code == 400, response.text
    assert response.json()["detail"]


def test_unknown_or_hidden_slide_is_404(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    for slide_id, user in [(north_slide["id"], "path_south"), ("[frob]", "path_north")]:
        response = client.get(
            f"/iiif/3/{slide_id}/full/max/0/default.jpg", headers=world.auth(user)
        )
        assert response.status_code == 404
    assert client.get(f"/iiif/3/{north_slide['id']}/full/max/0/default.jpg").status_code == 401


def test_profile_link_and_cache_headers(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    response = client.get(
        f"/iiif/3/{north_slide['id']}/0,0,64,64/max/0/default.jpg",
        headers=world.auth("path_north"),
    )
    assert response.headers["link"] == '<http://iiif.io/api/image/3/level2.json>;rel="profile"'
    assert response.headers["cache-control"] == "private, max-age=3600"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_cors_for_a_viewer_on_another_origin(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    url = f"/iiif/3/{north_slide['id']}/0,0,64,64/max/0/default.jpg"
    preflight = client.options(
        url,
        headers={
            "Origin": VIEWER,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == VIEWER
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers
    answer = client.get(url, headers={**world.auth("path_north"), "Origin": VIEWER})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == VIEWER
    assert "access-control-allow-credentials" not in answer.headers
    assert "Link" in answer.headers["access-control-expose-headers"]
    # Errors carry the headers too, so the viewer can read why.
    missing = client.get(f"/iiif/3/{north_slide['id']}/info.json", headers={"Origin": VIEWER})
    assert missing.status_code == 401
    assert missing.headers["access-control-allow-origin"] == VIEWER
    # Another origin, or the rest of the API: nothing.
    other = client.get(url, headers={**world.auth("path_north"), "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    refused = client.options(
        url, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert refused.status_code == 400
    api = client.get("/api/cases", headers={**world.auth("path_north"), "Origin": VIEWER})
    assert "access-control-allow-origin" not in api.headers


def test_304_on_matching_validator(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    url = f"/iiif/3/{north_slide['id']}/0,0,512,512/256,/0/default.jpg"
    first = client.get(url, headers=world.auth("path_north"))
    second = client.get(
        url, headers={**world.auth("path_north"), "If-None-Match": first.headers["etag"]}
    )
    assert second.status_code == 304
