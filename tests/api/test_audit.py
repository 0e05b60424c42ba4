"""The audit trail: written for reads and changes of patient data, readable by admins only,
and impossible to change, through the API or the database."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.core.db import Database
from tests.conftest import World


def events(client: TestClient, world: World, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/audit", params=params, headers=world.auth("admin"))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_reads_of_patient_data_are_audited(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    slide_id = north_slide["id"]
    headers = world.auth("path_north")
    client.get(f"/api/slides/{slide_id}", headers=headers)
    client.get(f"/dzi/{slide_id}.dzi", headers=headers)
    for _ in range(3):  # tiles are covered by the .dzi event, not one event each
        client.get(f"/dzi/{slide_id}_files/0/0_0.jpeg", headers=headers)
    client.get(f"/iiif/3/{slide_id}/info.json", headers=headers)
    client.get("/api/slides", headers=headers)
    trail = events(client, world, username="path_north")
    assert [(e["action"], e["outcome"], e["detail"]) for e in reversed(trail)] == [
        ("slide.metadata", "success", None),
        ("slide.open", "success", "dzi"),
        ("slide.open", "success", "iiif"),
        ("slide.list", "success", "1 of 1"),
    ]
    opened = trail[1]
    assert opened["object_type"] == "slide" and opened["object_id"] == slide_id
    assert opened["site_id"] == str(world.sites["NORTH"].id)
    assert opened["client"] == "testclient"
    assert opened["user_id"] == str(world.users["path_north"].id)
    upload_event = events(client, world, action="slide.upload")[0]
    assert upload_event["username"] == "tech_north" and upload_event["object_id"] == slide_id


def test_attempts_on_other_sites_are_audited_as_not_found(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    response = client.get(f"/api/slides/{north_slide['id']}", headers=world.auth("tech_south"))
    assert response.status_code == 404
    [event] = events(client, world, username="tech_south")
    assert (event["action"], event["outcome"]) == ("slide.metadata", "not_found")
    assert event["object_id"] == north_slide["id"]


def test_audit_is_for_admins_filtered_and_paged(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    assert client.get("/api/audit", headers=world.auth("path_north")).status_code == 403
    for _ in range(5):
        client.get(f"/api/slides/{north_slide['id']}", headers=world.auth("tech_north"))
    page = client.get(
        "/api/audit",
        params={"action": "slide.metadata", "limit": 2, "offset": 1},
        headers=world.auth("admin"),
    ).json()
    assert page["total"] == 5 and len(page["items"]) == 2 and page["offset"] == 1
    assert events(client, world, action="slide.", outcome="denied") == []
    assert len(events(client, world, since="2000-01-01T00:00:00")) >= 6
    assert events(client, world, until="2000-01-01T00:00:00Z") == []


def test_audit_cannot_be_changed_through_the_api(client: TestClient, world: World) -> None:
    client.get("/api/slides", headers=world.auth("tech_north"))
    [event] = events(client, world, action="slide.list")
    for method in ("PUT", "PATCH", "DELETE"):
        for path in ("/api/audit", f"/api/audit/{event['id']}"):
            response = client.request(method, path, headers=world.auth("admin"))
            assert response.status_code in (404, 405), (method, path)
    assert client.post("/api/audit", headers=world.auth("admin")).status_code == 405
    assert events(client, world, action="slide.list") == [event]


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_event SET outcome = 'success'", "DELETE FROM audit_event"]
)
def test_database_refuses_to_change_audit_events(
    client: TestClient, world: World, db: Database, statement: str
) -> None:
    client.get("/api/slides", headers=world.auth("tech_north"))
    with pytest.raises(DBAPIError, match="append-only"), db.write() as session:
        session.exec(text(statement))  # type: ignore[call-overload]
    assert len(events(client, world, action="slide.list")) == 1
