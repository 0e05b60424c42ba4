"""A user's calibration of a picture (`PUT /api/slides/{id}/calibration`): who may, what
it changes (the record, measurements), what it never overrides, and its audit trail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.test_audit import events
from tests.conftest import World, upload


@pytest.fixture
def phone_slide(client: TestClient, world: World, pictures: dict[str, Path]) -> dict[str, Any]:
    response = upload(client, world, "tech_north", pictures["phone"])
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert (body["mpp_x"], body["calibration"]) == (None, None)
    return body


def put(client: TestClient, world: World, user: str, slide_id: str, body: Any) -> Any:
    return client.put(f"/api/slides/{slide_id}/calibration", json=body, headers=world.auth(user))


def test_a_technician_calibrates_a_picture_and_measurements_follow(
    client: TestClient, world: World, phone_slide: dict[str, Any]
) -> None:
    slide_id = phone_slide["id"]
    line = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[0, 0], [100, 0]]},
        "properties": {},
    }
    created = client.post(
        f"/api/slides/{slide_id}/annotations", json=line, headers=world.auth("path_north")
    )
    assert created.status_code == 201, created.text
    assert created.json()["features"][0]["properties"]["slidebridge"]["lengthUm"] is None

    response = put(client, world, "tech_north", slide_id, {"mpp_x": 2.5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["mpp_x"], body["mpp_y"], body["calibration"]) == (2.5, 2.5, "user")
    again = client.get(f"/api/slides/{slide_id}", headers=world.auth("path_north")).json()
    assert (again["mpp_x"], again["calibration"]) == (2.5, "user")
    listed = client.get(
        f"/api/slides/{slide_id}/annotations", headers=world.auth("path_north")
    ).json()
    assert listed["features"][0]["properties"]["slidebridge"]["lengthUm"] == pytest.approx(250)

    # A pathologist covering the site corrects it; non-square pixels are kept apart.
    fixed = put(client, world, "path_north", slide_id, {"mpp_x": 2.0, "mpp_y": 2.2})
    assert fixed.status_code == 200 and (fixed.json()["mpp_x"], fixed.json()["mpp_y"]) == (
        2.0,
        2.2,
    )
    trail = events(client, world, action="slide.calibrate")
    assert [(e["username"], e["outcome"], e["detail"]) for e in reversed(trail)] == [
        (
            "tech_north",
            "success",
            "2.5 x 2.5 µm/pixel (was none x none; 1 annotations measured again)",
        ),
        ("path_north", "success", "2 x 2.2 µm/pixel (was 2.5 x 2.5; 1 annotations measured again)"),
    ]
    assert trail[0]["object_id"] == slide_id
    assert trail[0]["site_id"] == str(world.sites["NORTH"].id)


@pytest.mark.parametrize(
    ("user", "status", "outcome"),
    [
        ("surgeon_north", 403, "denied"),
        ("admin", 403, "denied"),
        ("tech_south", 404, "not_found"),  # another site's slide does not exist for them
        ("path_south", 404, "not_found"),
    ],
)
def test_only_the_sites_technicians_and_pathologists_calibrate(
    client: TestClient,
    world: World,
    phone_slide: dict[str, Any],
    user: str,
    status: int,
    outcome: str,
) -> None:
    response = put(client, world, user, phone_slide["id"], {"mpp_x": 1.0})
    assert response.status_code == status, response.text
    trail = events(client, world, action="slide.calibrate")
    assert [(e["username"], e["outcome"]) for e in trail] == [(user, outcome)]
    body = client.get(f"/api/slides/{phone_slide['id']}", headers=world.auth("tech_north"))
    assert body.json()["mpp_x"] is None


def test_a_files_own_calibration_is_never_overridden(
    client: TestClient, world: World, north_slide: dict[str, Any]
) -> None:
    assert north_slide["calibration"] == "file"
    response = put(client, world, "tech_north", north_slide["id"], {"mpp_x": 1.0})
    assert response.status_code == 409
    assert "states its calibration" in response.json()["detail"]
    body = client.get(f"/api/slides/{north_slide['id']}", headers=world.auth("tech_north"))
    assert body.json()["mpp_x"] == pytest.approx(0.499)
    assert events(client, world, action="slide.calibrate")[0]["outcome"] == "denied"


@pytest.mark.parametrize(
    "body",
    [{"mpp_x": 0}, {"mpp_x": -1}, {"mpp_x": 51}, {"mpp_x": "wide"}, {}, {"mpp_x": 1, "mpp_y": 0}],
)
def test_implausible_calibrations_are_422(
    client: TestClient, world: World, phone_slide: dict[str, Any], body: Any
) -> None:
    assert put(client, world, "tech_north", phone_slide["id"], body).status_code == 422
