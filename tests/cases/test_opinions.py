"""Second opinions: asked of a colleague or a group covering the case's site, answered
in the case's thread, part of its history (timeline, audit, live snapshot), never a
second signed report unless the colleague co-signs. SQLite and PostgreSQL."""

from __future__ import annotations

import io
from typing import Any

from fastapi.testclient import TestClient
from pypdf import PdfReader

from app.core.db import Database
from app.services.cases.opinions import set_group
from tests.cases.conftest import REPORT, audit_actions, ready_case
from tests.conftest import PASSWORD, World


def call(client: TestClient, world: World, user: str, case: Any, path: str, **body: Any) -> Any:
    return client.post(f"/api/cases/{case['id']}/{path}", json=body, headers=world.auth(user))


def claimed(client: TestClient, world: World) -> Any:
    case = ready_case(client, world)
    assert call(client, world, "path_north", case, "claim").status_code == 200
    return case


def test_ask_a_colleague_who_answers_in_the_thread(
    client: TestClient, world2: World, db: Database
) -> None:
    world = world2
    case = claimed(client, world)
    colleagues = client.get(
        f"/api/cases/{case['id']}/colleagues", headers=world.auth("path_north")
    ).json()
    assert [user["username"] for user in colleagues["users"]] == ["path_north2"]
    asked = call(
        client, world, "path_north", case, "opinions",
        to_user="path_north2", note="Atypical glands at 2 o'clock: do you agree?",
    )  # fmt: skip
    assert asked.status_code == 200, asked.text
    [opinion] = asked.json()["opinions"]
    assert opinion["status"] == "open" and opinion["recipients"] == ["path_north2"]
    assert asked.json()["thread"][0]["kind"] == "question"
    # The colleague finds it in the case list (their worklist) and answers.
    listed = client.get("/api/cases", headers=world.auth("path_north2")).json()["items"]
    [mine] = [item for item in listed if item["id"] == case["id"]]
    assert mine["opinions"][0]["recipients"] == ["path_north2"]
    answer = call(
        client, world, "path_north2", case, "messages",
        body="Agree: invasive carcinoma.", opinion=opinion["id"],
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["opinions"][0]["status"] == "answered"
    assert body["opinions"][0]["answered_by"] == "path_north2"
    assert [m["kind"] for m in body["thread"]] == ["question", "opinion"]
    assert body["thread"][1]["body"] == "Agree: invasive carcinoma."
    kinds = [event["kind"] for event in body["timeline"]]
    assert "ask_opinion" in kinds and "message" in kinds
    assert body["status"] == "in_review" and body["reports"] == []  # not a report
    actions = audit_actions(db, case["id"])
    assert ("case.ask_opinion", "success") in actions and ("case.message", "success") in actions


def test_who_may_ask_and_whom(client: TestClient, world2: World) -> None:
    world = world2
    case = claimed(client, world)
    # Only the reporting pathologist asks; a colleague of another site is no colleague.
    refused = call(client, world, "path_north2", case, "opinions", to_user="path_north", note="?")
    assert refused.status_code == 403
    south = call(client, world, "path_north", case, "opinions", to_user="path_south", note="?")
    assert south.status_code == 422
    both = call(
        client, world, "path_north", case, "opinions", to_user="path_north2", to_group="x", note="?"
    )
    assert both.status_code == 422
    # Another site's pathologist cannot see the case, its thread, nor post to it.
    assert call(client, world, "path_south", case, "messages", body="hello").status_code == 404
    assert (
        client.get(f"/api/cases/{case['id']}/colleagues", headers=world.auth("path_south"))
    ).status_code == 404
    # Surgeons do not post in the pathologists' thread.
    assert call(client, world, "surgeon_north", case, "messages", body="hi").status_code == 403


def test_ask_a_named_group(client: TestClient, world2: World, db: Database) -> None:
    world = world2
    with db.write() as session:
        set_group(session, "breast", ["path_north", "path_north2", "path_south"])
    case = claimed(client, world)
    colleagues = client.get(
        f"/api/cases/{case['id']}/colleagues", headers=world.auth("path_north")
    ).json()
    # Of the group, those covering the case's site, the asker left out.
    assert colleagues["groups"] == [{"name": "breast", "members": ["path_north2"]}]
    asked = call(client, world, "path_north", case, "opinions", to_group="breast", note="Look?")
    assert asked.status_code == 200, asked.text
    opinion = asked.json()["opinions"][0]
    assert opinion["asked_of"] == "group breast" and opinion["recipients"] == ["path_north2"]
    unknown = call(client, world, "path_north", case, "opinions", to_group="lung", note="?")
    assert unknown.status_code == 422


def test_a_colleague_co_signs_the_signed_version(client: TestClient, world2: World) -> None:
    world = world2
    case = claimed(client, world)
    signed = call(client, world, "path_north", case, "report", **REPORT, password=PASSWORD)
    assert signed.status_code == 200
    own = call(client, world, "path_north", case, "cosign", report_version=1, password=PASSWORD)
    assert own.status_code == 403
    wrong = call(client, world, "path_north2", case, "cosign", report_version=1, password="nope")
    assert wrong.status_code == 403
    stale = call(client, world, "path_north2", case, "cosign", report_version=2, password=PASSWORD)
    assert stale.status_code == 409
    done = call(client, world, "path_north2", case, "cosign", report_version=1, password=PASSWORD)
    assert done.status_code == 200, done.text
    assert [c["username"] for c in done.json()["cosigns"]] == ["path_north2"]
    twice = call(client, world, "path_north2", case, "cosign", report_version=1, password=PASSWORD)
    assert twice.status_code == 409
    pdf = client.get(f"/api/cases/{case['id']}/report.pdf", headers=world.auth("path_north"))
    assert pdf.headers["etag"].endswith('-c1-pdf-en"')
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Co-signed by path_north2" in " ".join(text.split())
