"""The upload page and its files are served; npm's tree and manifests are not."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import World


def test_page_needs_a_session_and_its_files_are_served(client: TestClient, world: World) -> None:
    page = client.get("/upload", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/upload"
    for path in ("/static/upload.js", "/static/upload.css", "/static/vendor/tus/tus.min.js"):
        assert client.get(path).status_code == 200, path
    hidden = (
        "/static/node_modules/tus-js-client/package.json",
        "/static/package.json",
        "/static/package-lock.json",
        "/static/../pyproject.toml",
        "/static/%2e%2e/pyproject.toml",
    )
    for path in hidden:
        assert client.get(path).status_code == 404, path
