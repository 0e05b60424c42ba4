"""IIIF limits over HTTP: decoded area (413), a render that waits too long (503), and
CORS open to any origin for bearer tokens but never `*` with a cookie."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.config import Settings
from tests.browser import serve_asgi
from tests.conftest import World


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "iiif_max_read_pixels": 1_000_000,
            "iiif_renders": 1,
            "iiif_renders_per_user": 1,
            "iiif_render_wait_seconds": 0.01,
            "iiif_cors_origins": ["*"],
        }
    )


def test_decoded_area_above_the_limit_is_413(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    url = f"/iiif/3/{north_slide['id']}"
    small = client.get(f"{url}/0,0,1000,1000/500,/0/default.jpg", headers=world.auth("path_north"))
    assert small.status_code == 200
    # The slide has one level: 1001x1000 level pixels to decode, whatever the output size.
    large = client.get(f"{url}/0,0,1001,1000/100,/0/default.jpg", headers=world.auth("path_north"))
    assert large.status_code == 413
    assert "decoded pixels" in large.json()["detail"]
    thumb = client.get(f"/api/slides/{north_slide['id']}/thumbnail", headers=world.auth("admin"))
    assert thumb.status_code == 413


def test_a_render_that_waits_too_long_is_503(
    app: FastAPI, client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    url = f"/iiif/3/{north_slide['id']}"
    answers: dict[str, httpx.Response] = {}

    def heavy() -> None:  # 16.7 million output pixels as PNG: seconds of work
        answers["heavy"] = http.get(
            f"{url}/0,0,1000,1000/^4096,4096/0/default.png", headers=world.auth("path_north")
        )

    with serve_asgi(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        thread = threading.Thread(target=heavy)
        thread.start()
        deadline = time.monotonic() + 10
        while app.state.renders.running() == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert app.state.renders.running() == 1
        # Another user, a small image: it waits 10 ms for the one place, then gives up.
        busy = http.get(f"{url}/0,0,64,64/max/0/default.jpg", headers=world.auth("admin"))
        thread.join(60)
    assert answers["heavy"].status_code == 200
    assert busy.status_code == 503
    assert int(busy.headers["retry-after"]) > 0
    assert "try again" in busy.json()["detail"]


def test_any_origin_with_a_bearer_token_but_never_star_with_a_cookie(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    url = f"/iiif/3/{north_slide['id']}/info.json"
    origin = "https://viewer.example.org"
    bearer = client.get(url, headers={**world.auth("path_north"), "Origin": origin})
    assert bearer.status_code == 200
    assert bearer.headers["access-control-allow-origin"] == "*"
    cookie = client.get(url, headers={"Origin": origin, "Cookie": "slidebridge_session=x"})
    assert cookie.status_code == 401
    assert "access-control-allow-origin" not in cookie.headers
    assert "access-control-allow-credentials" not in cookie.headers
