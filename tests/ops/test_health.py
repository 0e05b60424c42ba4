"""`/readyz` (database, queue, storage) and `/healthz`, on both databases."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from tests.conftest import Backend, make_settings

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_ready_when_everything_answers(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {
        "database": "ok",
        "migrations": "ok",
        "queue": "ok",
        "storage slides": "ok",
        "storage pyramids": "ok",
        "storage staging": "ok",
    }
    assert response.headers["cache-control"] == "no-store"


def test_not_ready_when_storage_refuses_files(client: TestClient, settings: Settings) -> None:
    # A file where the slide store should be: nothing can be stored (root ignores modes).
    shutil.rmtree(settings.slides_dir, ignore_errors=True)
    settings.slides_dir.write_bytes(b"")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage slides"] == "failed"
    assert response.json()["checks"]["database"] == "ok"
    assert str(settings.data_dir) not in response.text  # no path to anonymous callers
    assert client.get("/healthz").status_code == 200  # alive, just not ready


@pytest.mark.redis
@pytest.mark.parametrize(("url", "ready"), [(REDIS_URL, True), ("redis://127.0.0.1:1/0", False)])
def test_the_queue_is_redis_when_configured(
    backend: Backend, tmp_path: Path, url: str, ready: bool
) -> None:
    settings = make_settings(backend, tmp_path / "data", redis_url=url)
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        response = client.get("/readyz")
    assert response.status_code == (200 if ready else 503)
    assert response.json()["checks"]["queue"] == ("ok" if ready else "failed")
