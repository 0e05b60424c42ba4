"""IIIF Image API 3.0: info.json and rendered regions, sizes, rotations, qualities, formats."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.conftest import World

W, H = 2220, 2967


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
    assert response.headers["content-type"].startswith("application/ld+json")
    info = response.json()
    assert info["@context"] == "http://iiif.io/api/image/3/context.json"
    assert info["type"] == "ImageService3" and info["profile"] == "level2"
    assert info["id"] == f"https://testserver/iiif/3/{north_slide['id']}"
    assert (info["width"], info["height"]) == (W, H)
    [tiles] = info["tiles"]
    assert tiles["width"] == 512 and tiles["scaleFactors"] == [1, 2, 4, 8]
    assert {"width": W, "height": H} in info["sizes"]
    assert all(size["width"] <= W for size in info["sizes"])
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


def test_limits_are_413(client: TestClient, world: World, north_slide: dict[str, Any]) -> None:
    response = client.get(
        f"/iiif/3/{north_slide['id']}/full/^9000,/0/default.jpg", headers=world.auth("path_north")
    )
    assert response.status_code == 413
    assert "beyond" in response.json()["detail"]


def test_304_on_matching_validator(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    url = f"/iiif/3/{north_slide['id']}/0,0,512,512/256,/0/default.jpg"
    first = client.get(url, headers=world.auth("path_north"))
    second = client.get(
        url, headers={**world.auth("path_north"), "If-None-Match": first.headers["etag"]}
    )
    assert second.status_code == 304
