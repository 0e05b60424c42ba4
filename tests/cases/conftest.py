"""Case fixtures: a second pathologist for the north site, request data, a case with a slide."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.core.config import Settings
from app.core.db import Database
from app.models.accounts import Role, SiteCover, TokenKind, User
from app.models.audit import AuditEvent
from app.services import accounts as crud
from tests.conftest import SMALL_SVS, World

REQUEST: dict[str, Any] = {
    "type": "frozen_section",
    "patient_mrn": "MRN-004217",
    "patient_name": "Ana Silva Pereira",
    "patient_dob": "1961-03-14",
    "patient_sex": "female",
    "specimen_site": "breast",
    "specimen_laterality": "left",
    "specimen_type": "excision margin",
    "clinical_question": "Is the superior margin clear of carcinoma?",
    "surgeon_name": "Dr. M. Costa",
    "operating_room": "OR 2",
    "history": "Invasive ductal carcinoma on core biopsy.",
}
REPORT: dict[str, Any] = {
    "category": "malignant",
    "diagnosis": "Invasive ductal carcinoma.",
    "margins": "Superior margin involved.",
    "comment": "Consider re-excision of the superior margin.",
}


@pytest.fixture
def world2(world: World, db: Database, settings: Settings, password_hash: str) -> World:
    """`world` plus `path_north2`, a second pathologist covering NORTH (for races)."""
    with db.write() as session:
        user = User(username="path_north2", role=Role.pathologist, password_hash=password_hash)
        session.add(user)
        session.flush()
        session.add(SiteCover(user_id=user.id, site_id=world.sites["NORTH"].id))
        token, _ = crud.issue_token(
            session, user, TokenKind.bearer, timedelta(minutes=30), settings.secret_key
        )
    world.users["path_north2"] = user
    world.tokens["path_north2"] = token
    return world


def create_case(client: TestClient, world: World, user: str = "tech_north", **fields: Any) -> Any:
    response = client.post("/api/cases", json={**REQUEST, **fields}, headers=world.auth(user))
    assert response.status_code == 201, response.text
    return response.json()


def slide_for(client: TestClient, world: World, user: str = "tech_north") -> Any:
    """A new slide each time: the real small SVS with a few bytes appended past its
    last IFD (TIFF readers never look there), so each upload has its own SHA-256."""
    content = SMALL_SVS.read_bytes() + uuid.uuid4().bytes
    response = client.post(
        "/api/slides",
        headers=world.auth(user),
        files={"file": ("CMU-1-Small-Region.svs", content)},
    )
    assert response.status_code == 201, response.text
    return response.json()


def ready_case(client: TestClient, world: World) -> Any:
    case = create_case(client, world)
    slide = slide_for(client, world)
    response = client.post(
        f"/api/cases/{case['id']}/slides",
        json={"slide": slide["id"]},
        headers=world.auth("tech_north"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready", body
    return body


def audit_actions(db: Database, object_id: str) -> list[tuple[str, str]]:
    with db.read() as session:
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.object_id == object_id).order_by(AuditEvent.at)
        ).all()
    return [(row.action, str(row.outcome)) for row in rows]
