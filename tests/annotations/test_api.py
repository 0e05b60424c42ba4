"""The annotations API on the real app and database (SQLite and PostgreSQL): QuPath
GeoJSON in and out unchanged, validation as 422, site rules, history and restore, audit."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.core.db import Database
from app.models.audit import AuditEvent
from tests.conftest import World

FIXTURE = Path(__file__).parent / "fixtures" / "qupath_export.geojson"
MPP = 0.499


def qupath() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FIXTURE.read_text())
    return loaded


def url(slide: dict[str, Any], rest: str = "") -> str:
    return f"/api/slides/{slide['id']}/annotations{rest}"


def test_qupath_export_imports_and_exports_unchanged(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    auth = world.auth("path_north")
    created = client.post(url(north_slide), json=qupath(), headers=auth)
    assert created.status_code == 201, created.text
    assert len(created.json()["features"]) == 5
    exported = client.get(url(north_slide, "?format=qupath"), headers=auth)
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "application/geo+json"
    assert exported.json() == qupath()
    # The default answer adds provenance and true sizes under one key QuPath ignores.
    full = client.get(url(north_slide), headers=auth).json()["features"]
    rectangle = next(f for f in full if f["id"] == "0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a")
    meta = rectangle["properties"]["slidebridge"]
    assert meta["createdBy"] == "path_north" and meta["version"] == 1
    assert meta["areaUm2"] == pytest.approx(400 * 300 * MPP * MPP, rel=1e-3)
    assert meta["lengthUm"] == pytest.approx(1400 * MPP, rel=1e-3)
    line = next(f for f in full if f["geometry"]["type"] == "LineString")
    assert line["properties"]["slidebridge"]["lengthUm"] == pytest.approx(1000 * MPP, rel=1e-3)


def test_invalid_geometry_is_a_422_with_the_reason(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    bowtie = {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[0, 0], [100, 100], [100, 0], [0, 100], [0, 0]]],
        },
        "properties": {"objectType": "annotation"},
    }
    response = client.post(url(north_slide), json=bowtie, headers=world.auth("path_north"))
    assert response.status_code == 422
    assert "Self-intersection" in response.json()["detail"]
    outside = qupath()
    outside["features"][1]["geometry"]["coordinates"][0][1] = [5000, 1800]
    response = client.post(url(north_slide), json=outside, headers=world.auth("path_north"))
    assert response.status_code == 422
    assert response.json()["detail"].startswith("feature 1: ")
    assert "outside the slide" in response.json()["detail"]
    # All or nothing: the valid features of the refused request were not stored.
    listed = client.get(url(north_slide), headers=world.auth("path_north")).json()
    assert listed["features"] == []


def test_site_rules_and_roles(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    assert client.post(url(north_slide), json=qupath(), headers=world.auth("path_north")).is_success
    # Another site's slide does not exist for you.
    for user in ("path_south", "tech_south"):
        assert client.get(url(north_slide), headers=world.auth(user)).status_code == 404
    south = client.post(url(north_slide), json=qupath(), headers=world.auth("path_south"))
    assert south.status_code == 404
    # The surgeon of the case reads the annotations but does not write them.
    surgeon = world.auth("surgeon_north")
    assert len(client.get(url(north_slide), headers=surgeon).json()["features"]) == 5
    fresh = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [5, 5]}}
    assert client.post(url(north_slide), json=fresh, headers=surgeon).status_code == 403
    assert client.get(url(north_slide)).status_code == 401
    # The same id twice on one slide is a conflict, not a silent overwrite.
    again = client.post(url(north_slide), json=qupath(), headers=world.auth("path_north"))
    assert again.status_code == 409


def test_history_keeps_every_version_and_restores(
    client: TestClient, world: World, north_slide: dict[str, Any], db: Database
) -> None:
    auth = world.auth("path_north")
    feature = qupath()["features"][0]
    fid = feature["id"]
    assert client.post(url(north_slide), json=feature, headers=auth).status_code == 201
    changed = json.loads(json.dumps(feature))
    changed["properties"]["classification"] = {"name": "Margin", "color": [0, 160, 0]}
    changed["properties"]["metadata"] = {"comment": "closest margin 1.2 mm"}
    response = client.put(url(north_slide, f"/{fid}"), json=changed, headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["properties"]["slidebridge"]["version"] == 2
    assert client.delete(url(north_slide, f"/{fid}"), headers=auth).status_code == 204
    assert client.get(url(north_slide), headers=auth).json()["features"] == []
    history = client.get(url(north_slide, f"/{fid}/history"), headers=auth).json()
    assert [(h["version"], h["change"]) for h in history] == [
        (1, "created"),
        (2, "updated"),
        (3, "deleted"),
    ]
    assert all(h["author"] == "path_north" for h in history)
    assert history[1]["feature"]["properties"]["classification"]["name"] == "Margin"
    assert (
        client.post(
            url(north_slide, f"/{fid}/restore"), json={"version": 3}, headers=auth
        ).status_code
        == 422
    )
    restored = client.post(url(north_slide, f"/{fid}/restore"), json={"version": 1}, headers=auth)
    assert restored.status_code == 200, restored.text
    listed = client.get(url(north_slide, "?format=qupath"), headers=auth).json()["features"]
    assert listed == [feature]
    del changed["id"]
    unknown = client.put(url(north_slide, f"/{uuid.uuid4()}"), json=changed, headers=auth)
    assert unknown.status_code == 404
    mismatch = client.put(url(north_slide, f"/{uuid.uuid4()}"), json=feature, headers=auth)
    assert mismatch.status_code == 422
    with db.read() as session:
        actions = set(
            session.exec(
                select(AuditEvent.action).where(AuditEvent.object_type == "annotation")
            ).all()
        )
    assert {
        "annotation.create",
        "annotation.update",
        "annotation.delete",
        "annotation.restore",
    } <= actions


def test_ten_thousand_annotations_list_quickly(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    auth = world.auth("path_north")
    features = []
    for i in range(10_000):
        x, y = 10 + (i % 100) * 20, 10 + (i // 100) * 25
        ring = [[x, y], [x + 15, y], [x + 15, y + 15], [x, y + 15], [x, y]]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "objectType": "annotation",
                    "classification": {"name": "Tumor", "color": [200, 0, 0]},
                },
            }
        )
    body = {"type": "FeatureCollection", "features": features}
    assert client.post(url(north_slide), json=body, headers=auth).status_code == 201
    # How fast this answers is measured by `python -m benchmarks.annotations`.
    response = client.get(url(north_slide), headers=auth)
    assert len(response.json()["features"]) == 10_000
