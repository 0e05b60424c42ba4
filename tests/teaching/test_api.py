"""The teaching contract on the real app and database (SQLite and PostgreSQL): collections,
de-identified copies readable across sites, refusals, self-assessment, audit."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import openslide
from fastapi.testclient import TestClient
from sqlmodel import col, select

from app.core.config import Settings
from app.core.db import Database
from app.core.storage import slide_file
from app.models.audit import AuditEvent
from app.models.slides import SlideRecord
from tests.cases.conftest import REQUEST
from tests.conftest import SLIDES, World, upload
from tests.teaching.conftest import SQUARE, Teaching


def test_contract_copies_are_slides_of_no_site(
    client: TestClient, trainees: World, teaching: Teaching, db: Database, settings: Settings
) -> None:
    copies = teaching.item["slides"]
    assert len(copies) == 1 and copies[0] != teaching.slide
    listed = client.get(
        f"/api/teaching/collections/{teaching.collection}", headers=trainees.auth("trainee1")
    )
    assert listed.status_code == 200
    assert [item["slides"] for item in listed.json()["items"]] == [copies]
    copy = copies[0]
    # Readable by trainees and by teachers of any site, as a slide, Deep Zoom and IIIF.
    for user in ("trainee1", "path_south", "path_north", "admin"):
        slide = client.get(f"/api/slides/{copy}", headers=trainees.auth(user))
        assert slide.status_code == 200, (user, slide.text)
        body = slide.json()
        assert body["site"] is None and body["associated"] == []
        assert "CMU" not in body["name"] and body["width"] == 2220
        assert client.get(f"/dzi/{copy}.dzi", headers=trainees.auth(user)).status_code == 200
        info = client.get(f"/iiif/3/{copy}/info.json", headers=trainees.auth(user))
        assert info.status_code == 200
    for name in ("label", "macro", "thumbnail"):
        image = client.get(
            f"/api/slides/{copy}/associated/{name}", headers=trainees.auth("path_north")
        )
        assert image.status_code == 404
    # The stored file is the copy, read back with OpenSlide; nothing of the original's name.
    with db.read() as session:
        row = session.get(SlideRecord, uuid.UUID(copy))
        assert row is not None and row.site_id is None
    stored = slide_file(settings, row.storage_path)
    assert not openslide.OpenSlide(str(stored)).associated_images
    assert b"CMU-1" not in stored.read_bytes()
    # Other sites' staff still see nothing of it, and the original stays the site's.
    assert client.get(f"/api/slides/{copy}", headers=trainees.auth("tech_south")).status_code == 404
    original = client.get(f"/api/slides/{teaching.slide}", headers=trainees.auth("path_south"))
    assert original.status_code == 404


def test_item_keeps_the_diagnosis_without_the_patient(
    client: TestClient, trainees: World, teaching: Teaching
) -> None:
    item = client.get(
        f"/api/teaching/items/{teaching.item['id']}", headers=trainees.auth("path_south")
    ).json()
    assert item["category"] == "malignant"
    assert item["category_label"] == "malignant"
    assert item["diagnosis"].startswith("Invasive ductal carcinoma")
    assert REQUEST["patient_mrn"] not in item["diagnosis"]
    for part in REQUEST["patient_name"].split():
        assert part not in item["diagnosis"]
    assert item["specimen_site"] == "breast" and item["title"] == "Case 1"
    text = str(
        client.get(
            f"/api/teaching/collections/{teaching.collection}", headers=trainees.auth("path_north")
        ).json()
    )
    for value in (REQUEST["patient_name"], REQUEST["patient_mrn"], "1961", "NORTH"):
        assert value not in text


def test_single_slide_and_refusals(client: TestClient, trainees: World, teaching: Teaching) -> None:
    auth = trainees.auth("path_north")
    items = f"/api/teaching/collections/{teaching.collection}/items"
    added = client.post(items, json={"slide": teaching.slide, "title": "Margins"}, headers=auth)
    assert added.status_code == 201, added.text
    assert added.json()["title"] == "Margins" and added.json()["diagnosis"] is None
    dicom = SLIDES / "dicom" / "highdicom-sm_image" / "sm_image.dcm"
    registered = upload(client, trainees, "tech_north", Path(dicom))
    assert registered.status_code == 201, registered.text
    refused = client.post(items, json={"slide": registered.json()["id"]}, headers=auth)
    assert refused.status_code == 422
    assert "DICOM" in refused.json()["detail"]
    # Nobody else adds; another site's slide is unknown; a case needs a report.
    for user in ("trainee1", "tech_north", "admin"):
        denied = client.post(items, json={"slide": teaching.slide}, headers=trainees.auth(user))
        assert denied.status_code == 403, user
    other = client.post(items, json={"slide": teaching.slide}, headers=trainees.auth("path_south"))
    assert other.status_code == 404
    both = client.post(
        items, json={"slide": teaching.slide, "case": teaching.case["id"]}, headers=auth
    )
    assert both.status_code == 422
    listed = client.get(f"/api/teaching/collections/{teaching.collection}", headers=auth).json()
    assert [len(item["slides"]) for item in listed["items"]] == [1, 1]


def test_only_pathologists_make_collections(client: TestClient, trainees: World) -> None:
    for user in ("trainee1", "tech_north", "surgeon_north"):
        made = client.post(
            "/api/teaching/collections", json={"name": "x"}, headers=trainees.auth(user)
        )
        assert made.status_code == 403, user


def test_self_assessment(client: TestClient, trainees: World, teaching: Teaching) -> None:
    item = f"/api/teaching/items/{teaching.item['id']}"
    me = trainees.auth("trainee1")
    before = client.get(item, headers=me).json()
    assert before["diagnosis"] is None and before["category"] is None
    assert client.get(f"{item}/annotations", headers=me).status_code == 403
    # The slide's own annotation route is closed to trainees (it would give the answer away).
    copy = teaching.item["slides"][0]
    assert client.get(f"/api/slides/{copy}/annotations", headers=me).status_code == 403
    answer = {"category": "benign", "text": "Fibroadenoma."}
    answered = client.post(f"{item}/answer", json=answer, headers=me)
    assert answered.status_code == 201, answered.text
    body = answered.json()
    assert body["category"] == "malignant" and body["diagnosis"]
    assert body["answer"]["category_label"] == "benign" and body["answer"]["agrees"] is False
    assert client.post(f"{item}/answer", json=answer, headers=me).status_code == 409
    expert = client.get(f"{item}/annotations", headers=me).json()["slides"][copy]["features"]
    assert [f["geometry"] for f in expert] == [SQUARE["geometry"]]
    assert expert[0]["properties"]["classification"] == {"name": "Tumor"}
    # The teacher sees the class; a trainee their own answers only.
    right = {"category": "malignant", "text": "Carcinoma."}
    assert client.post(f"{item}/answer", json=right, headers=trainees.auth("trainee2")).is_success
    answers = f"/api/teaching/collections/{teaching.collection}/answers"
    teacher = client.get(answers, headers=trainees.auth("path_south")).json()
    assert {(p["username"], p["answered"], p["agreed"]) for p in teacher["progress"]} == {
        ("trainee1", 1, 0),
        ("trainee2", 1, 1),
    }
    assert len(teacher["answers"][teaching.item["id"]]) == 2
    own = client.get(answers, headers=me).json()
    assert [p["username"] for p in own["progress"]] == ["trainee1"]
    assert [a["text"] for a in own["answers"][teaching.item["id"]]] == ["Fibroadenoma."]
    assert (
        client.post(f"{item}/answer", json=right, headers=trainees.auth("path_north")).status_code
        == 403
    )


def test_teaching_is_audited(
    client: TestClient, trainees: World, teaching: Teaching, db: Database
) -> None:
    client.get(f"/api/slides/{teaching.item['slides'][0]}", headers=trainees.auth("trainee1"))
    client.get(f"/api/cases/{teaching.case['id']}", headers=trainees.auth("trainee1"))
    with db.read() as session:
        rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.at))).all()
    seen = {(r.username, r.action, str(r.outcome)) for r in rows}
    assert ("path_north", "teaching.read", "success") in seen  # the original case, read
    assert ("path_north", "teaching.copy", "success") in seen
    assert ("trainee1", "slide.metadata", "success") in seen
    assert ("trainee1", "trainee.refused", "denied") in seen


def test_listing(client: TestClient, trainees: World, teaching: Teaching) -> None:
    for user, count in (("trainee2", 1), ("path_south", 1), ("tech_north", 0)):
        listed: Any = client.get("/api/teaching/collections", headers=trainees.auth(user))
        assert listed.status_code == 200, user
        assert len(listed.json()) == count, user
