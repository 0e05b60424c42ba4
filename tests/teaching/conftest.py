"""Teaching fixtures: trainees (no site), a reported case with an annotated slide, and a
collection holding its de-identified copy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.core.db import Database
from app.models.accounts import Role, TokenKind, UserCreate
from app.services import accounts as crud
from tests.cases.conftest import REPORT, REQUEST, ready_case
from tests.conftest import PASSWORD, World

#: The report names the patient, as reports to a surgeon sometimes do.
DIAGNOSIS = f"Invasive ductal carcinoma ({REQUEST['patient_name']}, {REQUEST['patient_mrn']})."
SQUARE = {
    "type": "Feature",
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[100, 100], [600, 100], [600, 500], [100, 500], [100, 100]]],
    },
    "properties": {"classification": {"name": "Tumor"}, "name": "invasive front"},
}


@dataclass
class Teaching:
    case: dict[str, Any]
    slide: str
    collection: str
    item: dict[str, Any]


@pytest.fixture
def trainees(world: World, db: Database, settings: Settings, password_hash: str) -> World:
    """`world` plus two trainees, of no site."""
    with db.write() as session:
        for name in ("trainee1", "trainee2"):
            data = UserCreate(username=name, role=Role.trainee, password=PASSWORD)
            user = crud.create_user(session, data, password_hash=password_hash)
            token, _ = crud.issue_token(
                session, user, TokenKind.bearer, timedelta(minutes=30), settings.secret_key
            )
            world.users[name], world.tokens[name] = user, token
    return world


def reported_case(client: TestClient, world: World) -> tuple[dict[str, Any], str]:
    """A reported north case whose slide the pathologist annotated; (case, slide id)."""
    case = ready_case(client, world)
    slide = case["slides"][0]
    auth = world.auth("path_north")
    drawn = client.post(f"/api/slides/{slide}/annotations", json=SQUARE, headers=auth)
    assert drawn.status_code == 201, drawn.text
    assert client.post(f"/api/cases/{case['id']}/claim", headers=auth).status_code == 200
    report = {**REPORT, "diagnosis": DIAGNOSIS, "password": PASSWORD}
    signed = client.post(f"/api/cases/{case['id']}/report", json=report, headers=auth)
    assert signed.status_code == 200, signed.text
    return signed.json(), slide


@pytest.fixture
def teaching(client: TestClient, trainees: World) -> Teaching:
    case, slide = reported_case(client, trainees)
    auth = trainees.auth("path_north")
    made = client.post(
        "/api/teaching/collections", json={"name": "Breast frozen sections"}, headers=auth
    )
    assert made.status_code == 201, made.text
    collection = made.json()["id"]
    added = client.post(
        f"/api/teaching/collections/{collection}/items", json={"case": case["id"]}, headers=auth
    )
    assert added.status_code == 201, added.text
    return Teaching(case, slide, collection, added.json())
