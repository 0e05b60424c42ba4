"""Headers every answer carries: HSTS over TLS only, the referrer rule, labels and macros
never cached, and tiles not cached at all on shared workstations."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from tests.conftest import World


def test_hsts_only_over_tls(client: TestClient, app: FastAPI, settings: Settings) -> None:
    answer = client.get("/healthz")  # the client speaks https
    assert answer.headers["strict-transport-security"] == f"max-age={settings.hsts_seconds}"
    assert answer.headers["referrer-policy"] == "same-origin"
    assert answer.headers["x-content-type-options"] == "nosniff"
    with TestClient(app, base_url="http://testserver") as plain:
        assert "strict-transport-security" not in plain.get("/healthz").headers
    off = create_app(settings.model_copy(update={"hsts_seconds": 0}))
    with TestClient(off, base_url="https://testserver") as client_off:
        assert "strict-transport-security" not in client_off.get("/healthz").headers


def test_labels_and_macros_are_never_stored(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    base = f"/api/slides/{north_slide['id']}/associated"
    headers = world.auth("tech_north")
    for name in ("label", "macro"):
        answer = client.get(f"{base}/{name}", headers=headers)
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "private, no-store"
    thumbnail = client.get(f"{base}/thumbnail", headers=headers)
    assert thumbnail.headers["cache-control"] == "private, max-age=300"


def test_shared_workstations_keep_no_tile(
    settings: Settings, world: World, north_slide: dict[str, Any], client: TestClient
) -> None:
    tile = f"/dzi/{north_slide['id']}_files/0/0_0.jpeg"
    headers = world.auth("path_north")
    assert "max-age" in client.get(tile, headers=headers).headers["cache-control"]
    shared = create_app(settings.model_copy(update={"shared_workstations": True}))
    with TestClient(shared, base_url="https://testserver") as other:
        answer = other.get(tile, headers=headers)
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "private, no-store"
        thumbnail = other.get(
            f"/api/slides/{north_slide['id']}/associated/thumbnail", headers=headers
        )
        assert thumbnail.headers["cache-control"] == "private, no-store"
        # Public, non-patient files keep their caching.
        script = other.get("/static/shell/shell.js")
        assert "no-store" not in script.headers.get("cache-control", "")
