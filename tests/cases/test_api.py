"""The case API: every transition, every forbidden one, the site boundary, and audit.

Runs on SQLite and PostgreSQL (the `db` fixture). Races are in test_races.py,
live events in test_events.py.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from app.core.db import Database
from app.models.jobs import Job
from tests.cases.conftest import (
    REPORT,
    REQUEST,
    audit_actions,
    create_case,
    ready_case,
    slide_for,
)
from tests.conftest import PASSWORD, World


def post(client: TestClient, world: World, user: str, case: Any, action: str, **body: Any) -> Any:
    return client.post(f"/api/cases/{case['id']}/{action}", json=body, headers=world.auth(user))


def get(client: TestClient, world: World, user: str, case: Any) -> Any:
    return client.get(f"/api/cases/{case['id']}", headers=world.auth(user))


def reported_case(client: TestClient, world: World) -> Any:
    case = ready_case(client, world)
    assert post(client, world, "path_north", case, "claim").status_code == 200
    response = post(client, world, "path_north", case, "report", **REPORT, password=PASSWORD)
    assert response.status_code == 200, response.text
    return response.json()


# --- request ---------------------------------------------------------------------------


def test_request_creates_an_urgent_case_with_a_running_clock(
    client: TestClient, world: World, db: Database
) -> None:
    case = create_case(client, world)
    assert case["status"] == "requested"
    assert case["priority"] == "urgent"  # frozen sections always are
    assert case["site"] == "NORTH"
    assert case["requested_by"] == "tech_north"
    assert case["slides"] == []
    assert case["patient_name"] == REQUEST["patient_name"]
    assert case["clock"]["running"] is True
    assert 0 <= case["clock"]["minutes_since_requested"] < 1
    assert case["clock"]["minutes_since_ready"] is None
    assert [e["kind"] for e in case["timeline"]] == ["requested"]
    assert ("case.create", "success") in audit_actions(db, case["id"])


def test_routine_case_defaults_to_routine_priority(client: TestClient, world: World) -> None:
    case = create_case(client, world, "surgeon_north", type="routine")
    assert case["priority"] == "routine"


@pytest.mark.parametrize("user", ["path_north", "admin"])
def test_who_may_not_request_or_must_name_a_site(
    client: TestClient, world: World, user: str
) -> None:
    response = client.post("/api/cases", json=REQUEST, headers=world.auth(user))
    assert response.status_code == (403 if user == "path_north" else 422)


def test_request_for_another_site_is_an_unknown_site(client: TestClient, world: World) -> None:
    body = {**REQUEST, "site": "SOUTH"}
    response = client.post("/api/cases", json=body, headers=world.auth("tech_north"))
    assert response.status_code == 422
    assert create_case(client, world, "admin", site="SOUTH")["site"] == "SOUTH"


def test_request_fields_are_validated(client: TestClient, world: World) -> None:
    for bad in ({"patient_mrn": ""}, {"patient_name": "x" * 201}, {"type": "autopsy"}):
        response = client.post(
            "/api/cases", json={**REQUEST, **bad}, headers=world.auth("tech_north")
        )
        assert response.status_code == 422, bad


# --- site boundary -----------------------------------------------------------------------


def test_another_sites_case_does_not_exist(client: TestClient, world: World, db: Database) -> None:
    case = create_case(client, world)
    for user in ("tech_south", "path_south"):
        assert get(client, world, user, case).status_code == 404
        assert post(client, world, user, case, "claim").status_code == 404
        assert post(client, world, user, case, "cancel").status_code == 404
    for user in ("tech_north", "surgeon_north", "path_north", "admin"):
        assert get(client, world, user, case).status_code == 200
    assert client.get("/api/cases/not-a-uuid", headers=world.auth("admin")).status_code == 404
    actions = audit_actions(db, case["id"])
    assert ("case.read", "not_found") in actions
    assert ("case.read", "success") in actions


def test_list_filters_and_scoping(client: TestClient, world: World) -> None:
    north = create_case(client, world)
    routine = create_case(client, world, type="routine")
    south = create_case(client, world, "tech_south")

    def ids(user: str, **params: Any) -> list[str]:
        response = client.get("/api/cases", params=params, headers=world.auth(user))
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids("tech_north") == [north["id"], routine["id"]]  # urgent first
    assert ids("path_south") == [south["id"]]
    assert set(ids("admin")) == {north["id"], routine["id"], south["id"]}
    assert ids("admin", site="SOUTH") == [south["id"]]
    assert ids("admin", type="routine") == [routine["id"]]
    assert ids("tech_north", status="requested", site="SOUTH") == []
    assert ids("tech_north", status=["ready", "in_review"]) == []


# --- slides ------------------------------------------------------------------------------


def test_slides_move_the_case_to_ready_and_the_job_becomes_urgent(
    client: TestClient, world: World, db: Database
) -> None:
    case = create_case(client, world)
    slide = slide_for(client, world)  # a plain upload: priority 0
    response = post(client, world, "tech_north", case, "slides", slide=slide["id"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["slides"] == [slide["id"]]
    assert body["slide_state"] == {
        "uploading": 0, "attached": 1, "viewable": 1, "failed": 0,
        "arriving": 0, "overview_pending": 0, "received": None,
    }  # fmt: skip
    assert body["first_slide_at"] is not None and body["slides_ready_at"] is not None
    assert body["clock"]["minutes_since_ready"] is not None
    kinds = [event["kind"] for event in body["timeline"]]
    assert kinds == ["requested", "attach", "slide_received", "slides_ready"]
    with db.read() as session:
        job = session.exec(select(Job).where(Job.slide_id == uuid.UUID(slide["id"]))).one()
    assert job.priority == 10


def test_another_sites_slide_is_refused(client: TestClient, world: World) -> None:
    case = create_case(client, world)
    south_slide = slide_for(client, world, "tech_south")
    assert post(client, world, "admin", case, "slides", slide=south_slide["id"]).status_code == 409
    assert (
        post(client, world, "tech_north", case, "slides", slide=south_slide["id"]).status_code
        == 409
    )
    assert get(client, world, "tech_north", case).json()["slides"] == []


def test_a_slide_belongs_to_one_case(client: TestClient, world: World) -> None:
    first, second = create_case(client, world), create_case(client, world)
    slide = slide_for(client, world)
    assert post(client, world, "tech_north", first, "slides", slide=slide["id"]).status_code == 200
    assert post(client, world, "tech_north", second, "slides", slide=slide["id"]).status_code == 409


def test_surgeons_do_not_add_slides(client: TestClient, world: World) -> None:
    case = create_case(client, world)
    slide = slide_for(client, world)
    assert (
        post(client, world, "surgeon_north", case, "slides", slide=slide["id"]).status_code == 403
    )


# --- claim, view, report -------------------------------------------------------------------


def test_claim_only_when_ready_and_only_by_a_pathologist(
    client: TestClient, world: World, db: Database
) -> None:
    waiting = create_case(client, world)
    assert post(client, world, "path_north", waiting, "claim").status_code == 409
    case = ready_case(client, world)
    assert post(client, world, "tech_north", case, "claim").status_code == 403
    response = post(client, world, "path_north", case, "claim")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "in_review"
    assert body["claimed_by"] == "path_north"
    assert body["claimed_at"] is not None
    again = post(client, world, "path_north", case, "claim")
    assert again.status_code == 409
    assert "already claimed" in again.json()["detail"]
    actions = audit_actions(db, case["id"])
    assert ("case.claim", "denied") in actions
    assert ("case.claim", "success") in actions
    assert ("case.claim", "failure") in actions


def test_first_viewed_is_set_once_by_the_claimer(client: TestClient, world2: World) -> None:
    world = world2
    case = ready_case(client, world)
    assert post(client, world, "path_north", case, "viewed").status_code == 409  # not claimed
    post(client, world, "path_north", case, "claim")
    assert post(client, world, "path_north2", case, "viewed").status_code == 409
    first = post(client, world, "path_north", case, "viewed").json()["first_viewed_at"]
    assert first is not None
    assert post(client, world, "path_north", case, "viewed").json()["first_viewed_at"] == first


def test_report_needs_the_claimer_and_the_right_password(
    client: TestClient, world2: World, db: Database
) -> None:
    world = world2
    case = ready_case(client, world)
    before_claim = post(client, world, "path_north", case, "report", **REPORT, password=PASSWORD)
    assert before_claim.status_code == 409
    post(client, world, "path_north", case, "claim")
    other = post(client, world, "path_north2", case, "report", **REPORT, password=PASSWORD)
    assert other.status_code == 409
    assert "claimed by path_north" in other.json()["detail"]
    wrong = post(client, world, "path_north", case, "report", **REPORT, password="not it at all")
    assert wrong.status_code == 403
    assert get(client, world, "path_north", case).json()["status"] == "in_review"
    missing = post(client, world, "path_north", case, "report", **REPORT)
    assert missing.status_code == 422
    bad = post(
        client,
        world,
        "path_north",
        case,
        "report",
        **{**REPORT, "category": "maybe"},
        password=PASSWORD,
    )
    assert bad.status_code == 422
    response = post(client, world, "path_north", case, "report", **REPORT, password=PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "reported"
    assert body["clock"]["running"] is False
    assert body["report"]["version"] == 1
    assert body["report"]["category"] == "malignant"
    assert body["report"]["signed_by"] == "path_north"
    assert body["report_version"] == 1 and body["acknowledged_version"] == 0
    assert (
        post(client, world, "path_north", case, "report", **REPORT, password=PASSWORD).status_code
        == 409
    )
    actions = audit_actions(db, case["id"])
    assert ("case.report", "denied") in actions and ("case.report", "success") in actions


def test_every_category_has_its_label(client: TestClient, world: World) -> None:
    labels = {
        "benign": "benign",
        "malignant": "malignant",
        "atypical": "atypical / suspicious",
        "deferred": "deferred to permanent sections",
        "non_diagnostic": "non-diagnostic",
    }
    for category, label in labels.items():
        case = ready_case(client, world)
        post(client, world, "path_north", case, "claim")
        body = post(
            client, world, "path_north", case, "report",
            **{**REPORT, "category": category}, password=PASSWORD,
        ).json()  # fmt: skip
        assert body["report"]["category_label"] == label


# --- acknowledge and amend -----------------------------------------------------------------


def test_acknowledge_by_the_sites_surgeon(client: TestClient, world: World, db: Database) -> None:
    case = ready_case(client, world)
    assert post(client, world, "surgeon_north", case, "acknowledge").status_code == 409
    case = reported_case(client, world)
    assert post(client, world, "tech_north", case, "acknowledge").status_code == 403
    assert post(client, world, "path_north", case, "acknowledge").status_code == 403
    response = post(
        client, world, "surgeon_north", case, "acknowledge", report_version=1,
        read_back="malignant, superior margin involved",
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "acknowledged"
    assert body["acknowledged_by"] == "surgeon_north"
    assert body["acknowledged_version"] == 1
    assert body["acknowledgements"][0]["read_back"] == "malignant, superior margin involved"
    assert post(client, world, "surgeon_north", case, "acknowledge").status_code == 409
    # The pathologist sees who acknowledged, and when.
    seen = get(client, world, "path_north", case).json()
    assert seen["acknowledged_by"] == "surgeon_north" and seen["acknowledged_at"] is not None


def test_amend_keeps_every_version_and_needs_a_new_acknowledgement(
    client: TestClient, world: World
) -> None:
    case = reported_case(client, world)
    post(client, world, "surgeon_north", case, "acknowledge", report_version=1)
    amended = {**REPORT, "category": "benign", "diagnosis": "Fibroadenoma.", "margins": None}
    no_reason = post(client, world, "path_north", case, "amend", **amended, password=PASSWORD)
    assert no_reason.status_code == 422
    wrong = post(
        client, world, "path_north", case, "amend", **amended, password="wrong one!", reason="x"
    )
    assert wrong.status_code == 403
    assert (
        post(
            client, world, "surgeon_north", case, "amend", **amended, password=PASSWORD, reason="x"
        ).status_code
        == 403
    )
    response = post(
        client, world, "path_north", case, "amend", **amended, password=PASSWORD,
        reason="Permanent-like review of a deeper level: no carcinoma.",
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "amended"
    assert body["report_version"] == 2 and body["acknowledged_version"] == 1
    assert [r["version"] for r in body["reports"]] == [1, 2]
    assert body["reports"][0]["category"] == "malignant"  # the first version is kept as signed
    assert body["report"]["category"] == "benign"
    assert body["report"]["reason"].startswith("Permanent-like")
    stale = post(client, world, "surgeon_north", case, "acknowledge", report_version=1)
    assert stale.status_code == 409
    again = post(client, world, "surgeon_north", case, "acknowledge", report_version=2)
    assert again.status_code == 200
    assert again.json()["acknowledged_version"] == 2
    assert len(again.json()["acknowledgements"]) == 2


def test_amend_needs_a_signed_report(client: TestClient, world: World) -> None:
    case = ready_case(client, world)
    post(client, world, "path_north", case, "claim")
    response = post(
        client, world, "path_north", case, "amend", **REPORT, password=PASSWORD, reason="r"
    )
    assert response.status_code == 409


def test_signed_reports_cannot_be_changed_in_the_database(
    client: TestClient, world: World, db: Database
) -> None:
    case = reported_case(client, world)
    for statement in ("UPDATE case_report SET diagnosis = 'edited'", "DELETE FROM case_report"):
        with pytest.raises(DBAPIError), db.write() as session:
            session.execute(text(statement))
    assert (
        get(client, world, "path_north", case).json()["report"]["diagnosis"] == REPORT["diagnosis"]
    )


# --- patch and cancel ----------------------------------------------------------------------


def test_patch_until_claimed(client: TestClient, world: World) -> None:
    case = ready_case(client, world)
    response = client.patch(
        f"/api/cases/{case['id']}",
        json={"operating_room": "OR 5", "priority": "routine"},
        headers=world.auth("surgeon_north"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["operating_room"] == "OR 5"
    assert response.json()["priority"] == "urgent"  # a frozen section stays urgent
    assert (
        client.patch(
            f"/api/cases/{case['id']}", json={"history": "x"}, headers=world.auth("path_north")
        ).status_code
        == 403
    )
    post(client, world, "path_north", case, "claim")
    late = client.patch(
        f"/api/cases/{case['id']}", json={"history": "x"}, headers=world.auth("surgeon_north")
    )
    assert late.status_code == 409


def test_cancel_before_report_only_and_nothing_after(client: TestClient, world: World) -> None:
    case = create_case(client, world)
    response = post(client, world, "surgeon_north", case, "cancel", reason="specimen lost")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "cancelled" and body["cancel_reason"] == "specimen lost"
    assert body["clock"]["running"] is False
    slide = slide_for(client, world)
    assert post(client, world, "tech_north", case, "slides", slide=slide["id"]).status_code == 409
    assert post(client, world, "path_north", case, "claim").status_code == 409
    assert post(client, world, "surgeon_north", case, "cancel").status_code == 409
    reported = reported_case(client, world)
    assert post(client, world, "surgeon_north", reported, "cancel").status_code == 409


def test_report_on_a_cancelled_case_is_refused(client: TestClient, world: World) -> None:
    case = ready_case(client, world)
    post(client, world, "path_north", case, "claim")
    assert post(client, world, "surgeon_north", case, "cancel").status_code == 200
    response = post(client, world, "path_north", case, "report", **REPORT, password=PASSWORD)
    assert response.status_code == 409
    assert "cancelled" in response.json()["detail"]


def test_every_transition_is_timestamped_and_audited(
    client: TestClient, world: World, db: Database
) -> None:
    case = reported_case(client, world)
    post(client, world, "surgeon_north", case, "acknowledge")
    body = get(client, world, "path_north", case).json()
    for field in (
        "requested_at", "first_slide_at", "slides_ready_at", "claimed_at", "reported_at",
        "acknowledged_at",
    ):  # fmt: skip
        assert body[field] is not None, field
    kinds = [event["kind"] for event in body["timeline"]]
    assert kinds == [
        "requested", "attach", "slide_received", "slides_ready", "claim", "report", "acknowledge",
    ]  # fmt: skip
    ids = [event["id"] for event in body["timeline"]]
    assert ids == sorted(ids)
    actions = {action for action, outcome in audit_actions(db, case["id"]) if outcome == "success"}
    assert {
        "case.create", "case.attach", "case.slide_received", "case.slides_ready", "case.claim",
        "case.report", "case.acknowledge", "case.read",
    } <= actions  # fmt: skip
