"""Registering slides over HTTP and who may see them."""

from __future__ import annotations

import hashlib
import io
import os
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.core.config import Settings
from app.core.db import Database
from app.services.staging import display_name, safe_suffix
from tests.conftest import BOXES_TIFF, SLIDES, SMALL_SVS, World, upload
from workers.embedded import EmbeddedWorkers

SLIDE_KEYS = {
    "id", "site", "name", "sha256", "status", "progress", "error", "vendor", "width",
    "height", "mpp_x", "mpp_y", "objective_power", "levels", "associated",
}  # fmt: skip

#: Real files that are not readable slides, and the words their 422 reason must contain.
NOT_SLIDES = [
    (SLIDES / "broken" / "broken.svs", "not a whole-slide image"),
    (SLIDES / "broken" / "unopenable.tiff", "unopenable.tiff"),
    (SLIDES / "broken" / "zero_gi.tif", "zero_gi.tif"),
    (SLIDES / "zeiss-czi" / "RGB-multichannel.czi", "RGB-multichannel.czi"),
]


def stored_files(settings: Settings) -> list[Path]:
    roots = [settings.slides_dir, settings.staging_dir]
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


def test_upload_good_slide_is_201_with_the_contract_keys(
    client: TestClient, world: World, settings: Settings
) -> None:
    response = upload(client, world, "tech_north")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body.keys() >= SLIDE_KEYS
    assert body["site"] == "NORTH"
    assert body["name"] == "CMU-1-Small-Region.svs"
    assert body["sha256"] == hashlib.sha256(SMALL_SVS.read_bytes()).hexdigest()
    assert (body["status"], body["progress"], body["error"]) == ("queued", 0.0, None)
    assert (body["vendor"], body["width"], body["height"]) == ("aperio", 2220, 2967)
    assert body["mpp_x"] == pytest.approx(0.499)
    assert body["objective_power"] == 20
    assert body["levels"] == [{"width": 2220, "height": 2967, "downsample": 1.0}]
    assert set(body["associated"]) == {"label", "macro", "thumbnail"}
    sha = body["sha256"]
    stored = settings.slides_dir / sha[:2] / sha[2:4] / f"{sha}.svs"
    assert stored.read_bytes() == SMALL_SVS.read_bytes()
    assert stored_files(settings) == [stored]  # nothing left in staging
    again = client.get(f"/api/slides/{body['id']}", headers=world.auth("tech_north"))
    assert again.status_code == 200 and again.json() == body


def test_same_content_twice_answers_the_existing_slide(client: TestClient, world: World) -> None:
    first = upload(client, world, "tech_north")
    second = upload(client, world, "tech_north", name="renamed.svs")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    other_site = upload(client, world, "tech_south")
    assert other_site.status_code == 201
    assert other_site.json()["id"] != first.json()["id"]


@pytest.mark.parametrize(("path", "words"), NOT_SLIDES, ids=lambda v: getattr(v, "name", ""))
def test_unreadable_files_are_422_and_nothing_is_kept(
    client: TestClient, world: World, settings: Settings, path: Path, words: str
) -> None:
    response = upload(client, world, "tech_north", path)
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]
    assert stored_files(settings) == []
    assert client.get("/api/slides", headers=world.auth("admin")).json()["total"] == 0


def test_client_file_name_is_only_display_text(
    client: TestClient, world: World, settings: Settings
) -> None:
    response = upload(client, world, "tech_north", BOXES_TIFF, name="..\\..\\etc/evil.tiff")
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "evil.tiff"
    assert all(settings.data_dir in p.parents for p in stored_files(settings))
    assert display_name("a/b\\c\x00\x1f.svs") == "c.svs"
    assert safe_suffix("x.SVS") == ".svs" and safe_suffix("x.sv s") == "" and safe_suffix("x") == ""


def test_bad_upload_forms(client: TestClient, world: World) -> None:
    headers = world.auth("tech_north")
    no_file = client.post("/api/slides", headers=headers, data={"site": "NORTH"})
    assert no_file.status_code == 422
    empty = client.post("/api/slides", headers=headers, files={"file": ("a.svs", b"")})
    assert empty.status_code == 422
    admin_without_site = upload(client, world, "admin")
    assert admin_without_site.status_code == 422
    assert "site" in admin_without_site.json()["detail"]
    unknown_site = upload(client, world, "admin", site="NOWHERE")
    assert unknown_site.status_code == 422
    other_site = upload(client, world, "tech_north", site="SOUTH")
    assert other_site.status_code == 422  # a site you cannot see is reported as unknown
    surgeon = upload(client, world, "surgeon_north")
    assert surgeon.status_code == 403


def test_upload_size_limit(backend: Any, tmp_path: Path, world: World) -> None:
    from app.main import create_app
    from tests.conftest import make_settings

    # A second app on the same data and database, with a tiny limit.
    settings = make_settings(backend, tmp_path / "data", max_upload_bytes=1000)
    with TestClient(create_app(settings, migrate=False), base_url="https://testserver") as small:
        response = upload(small, world, "tech_north")
    assert response.status_code == 413
    assert not any((tmp_path / "data" / "staging").glob("*"))


def test_site_isolation_lists_and_404s(client: TestClient, world: World) -> None:
    north = upload(client, world, "tech_north").json()
    south = upload(client, world, "tech_south", BOXES_TIFF).json()

    def visible(username: str) -> set[str]:
        response = client.get("/api/slides", headers=world.auth(username))
        assert response.status_code == 200
        return {item["id"] for item in response.json()["items"]}

    assert visible("admin") == {north["id"], south["id"]}
    assert visible("path_north") == {north["id"]}
    assert visible("path_south") == {south["id"]}
    assert visible("tech_north") == {north["id"]}
    assert visible("surgeon_north") == {north["id"]}
    assert visible("tech_south") == {south["id"]}
    for username, slide in (("tech_south", north), ("path_north", south), ("surgeon_north", south)):
        for path in (
            f"/api/slides/{slide['id']}",
            f"/api/slides/{slide['id']}/thumbnail",
            f"/api/slides/{slide['id']}/associated/thumbnail",
            f"/dzi/{slide['id']}.dzi",
            f"/dzi/{slide['id']}_files/0/0_0.jpeg",
            f"/iiif/3/{slide['id']}/info.json",
            f"/iiif/3/{slide['id']}/full/max/0/default.jpg",
        ):
            response = client.get(path, headers=world.auth(username))
            assert response.status_code == 404, (username, path)
            assert response.json() == {"detail": "no such slide"}
    by_site = client.get("/api/slides", params={"site": "SOUTH"}, headers=world.auth("admin"))
    assert [item["id"] for item in by_site.json()["items"]] == [south["id"]]


def test_thumbnail_and_associated_images(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    slide_id = north_slide["id"]
    thumb = client.get(f"/api/slides/{slide_id}/thumbnail", headers=world.auth("surgeon_north"))
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["cache-control"].startswith("private")
    assert thumb.headers["x-content-type-options"] == "nosniff"
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 256
    for username in ("path_north", "tech_north", "surgeon_north"):
        label = client.get(f"/api/slides/{slide_id}/associated/label", headers=world.auth(username))
        assert label.status_code == 200, username
        assert Image.open(io.BytesIO(label.content)).format == "PNG"
    refused = client.get(f"/api/slides/{slide_id}/associated/macro", headers=world.auth("admin"))
    assert refused.status_code == 403
    allowed = client.get(
        f"/api/slides/{slide_id}/associated/thumbnail", headers=world.auth("admin")
    )
    assert allowed.status_code == 200
    missing = client.get(
        f"/api/slides/{slide_id}/associated/nope", headers=world.auth("tech_north")
    )
    assert missing.status_code == 404
    events = client.get(
        "/api/audit", params={"action": "slide.associated."}, headers=world.auth("admin")
    ).json()["items"]
    outcomes = sorted((event["action"], event["outcome"]) for event in events)
    assert ("slide.associated.macro", "denied") in outcomes
    assert outcomes.count(("slide.associated.label", "success")) == 3


def test_delete_is_for_admins(
    client: TestClient, world: World, settings: Settings, north_slide: dict[str, Any]
) -> None:
    slide_id = north_slide["id"]
    assert (
        client.delete(f"/api/slides/{slide_id}", headers=world.auth("tech_north")).status_code
        == 403
    )
    assert client.delete(f"/api/slides/{slide_id}", headers=world.auth("admin")).status_code == 204
    assert client.get(f"/api/slides/{slide_id}", headers=world.auth("admin")).status_code == 404
    assert stored_files(settings) == []
    assert client.delete(f"/api/slides/{slide_id}", headers=world.auth("admin")).status_code == 404


def test_upload_without_credentials_is_refused_before_the_body_is_stored(
    client: TestClient, settings: Settings
) -> None:
    response = client.post("/api/slides", files={"file": ("a.svs", SMALL_SVS.read_bytes())})
    assert response.status_code == 401
    assert stored_files(settings) == []


def test_startup_removes_uploads_a_killed_process_left(settings: Settings) -> None:
    from app.main import create_app

    settings.staging_dir.mkdir(parents=True)
    old, fresh = settings.staging_dir / "old.svs", settings.staging_dir / "fresh.svs"
    old.write_bytes(b"half an upload")
    fresh.write_bytes(b"an upload in flight")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    with TestClient(create_app(settings)):
        pass
    assert not old.exists() and fresh.exists()


@pytest.mark.parametrize("name", ["phone", "camera16", "ome", "grey10kx5k"])
def test_a_picture_is_stored_as_a_tiled_pyramid_and_served_like_a_slide(
    client: TestClient,
    world: World,
    settings: Settings,
    pictures: dict[str, Path],
    db: Database,
    name: str,
) -> None:
    path = SLIDES / "plain-tiff" / "grey10kx5k.tif" if name == "grey10kx5k" else pictures[name]
    response = upload(client, world, "tech_north", path)
    assert response.status_code == 201, response.text
    body = response.json()
    received = hashlib.sha256(path.read_bytes()).hexdigest()
    assert body["received_sha256"] == received
    assert body["vendor"].startswith(("image-", "ome-tiff"))
    assert len(body["levels"]) > 1  # the tiled copy's pyramid levels
    sha = body["sha256"]  # what is stored: the tiled copy
    stored = settings.slides_dir / sha[:2] / sha[2:4] / f"{sha}.pyramid.tiff"
    assert stored_files(settings) == [stored]  # the picture itself is not kept
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha
    assert body["size_bytes"] == stored.stat().st_size
    again = upload(client, world, "tech_north", path, name="again.jpg")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    if name == "phone":  # stands as it was taken (EXIF orientation 6)
        assert (body["width"], body["height"]) == (480, 640)
    if name in ("camera16", "ome"):
        assert body["mpp_x"] == pytest.approx(0.345 if name == "camera16" else 0.25, rel=1e-4)
    else:
        assert body["mpp_x"] is None and body["mpp_y"] is None
    headers = world.auth("path_north")
    slide_id = body["id"]
    dzi = client.get(f"/dzi/{slide_id}.dzi", headers=headers)
    assert dzi.status_code == 200 and f'Width="{body["width"]}"' in dzi.text
    tile = client.get(f"/dzi/{slide_id}_files/8/0_0.jpeg", headers=headers)
    assert tile.status_code == 200 and tile.headers["content-type"] == "image/jpeg"
    info = client.get(f"/iiif/3/{slide_id}/info.json", headers=headers)
    assert info.status_code == 200 and info.json()["width"] == body["width"]
    region = client.get(f"/iiif/3/{slide_id}/full/64,/0/default.jpg", headers=headers)
    assert region.status_code == 200
    assert Image.open(io.BytesIO(region.content)).width == 64
    # The pyramid job checks the stored file against its SHA-256 and builds from it.
    assert EmbeddedWorkers(db, settings).run_once("test-worker")
    built = client.get(f"/api/slides/{slide_id}", headers=headers).json()
    assert (built["status"], built["error"]) == ("ready", None)
