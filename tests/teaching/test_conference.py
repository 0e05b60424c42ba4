"""Conferences through the API (SQLite and PostgreSQL): who presents, hands and the
pointer, the room's limit, the walkthrough, the events on the live hub, audit."""

from __future__ import annotations

import uuid

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.services.live import LiveHub
from app.services.teaching import conference as conference_service
from tests.conftest import World
from tests.teaching.conftest import Teaching


def view(slide: str, x: float = 500.0) -> dict[str, object]:
    return {"slide": slide, "center": [x, 700.0], "zoom": 0.5, "client": "t"}


def test_conference_room(
    app: FastAPI,
    client: TestClient,
    trainees: World,
    teaching: Teaching,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub: LiveHub = app.state.live
    sent: list[tuple[str, dict[str, object]]] = []
    publish = hub.publish
    monkeypatch.setattr(
        hub,
        "publish",
        lambda key, event, data, **kw: (
            sent.append((event, data)),
            publish(key, event, data, **kw),
        )[1],
    )
    monkeypatch.setattr(conference_service, "STEP_SECONDS", 0.0)
    teacher, t1, t2 = (trainees.auth(u) for u in ("path_north", "trainee1", "trainee2"))
    base = f"/api/teaching/collections/{teaching.collection}/conferences"
    assert client.post(base, json={}, headers=t1).status_code == 403
    started = client.post(base, json={"av_link": "https://meet.example.org/room"}, headers=teacher)
    assert started.status_code == 201, started.text
    room = started.json()
    assert room["presenter"] == "path_north" and room["av_link"] == "https://meet.example.org/room"
    assert room["slide_id"] == teaching.item["slides"][0]
    url = f"/api/teaching/conferences/{room['id']}"
    assert [c["id"] for c in client.get(base, headers=t1).json()] == [room["id"]]
    copy = teaching.item["slides"][0]

    joined = client.post(f"{url}/join", headers=t1).json()
    assert [p["username"] for p in joined["participants"]] == ["trainee1"]
    assert client.post(f"{url}/join", headers=t1).status_code == 200  # again: idempotent
    monkeypatch.setattr(conference_service, "MAX_PARTICIPANTS", 1)
    assert client.post(f"{url}/join", headers=t2).status_code == 409  # the room is full
    monkeypatch.setattr(conference_service, "MAX_PARTICIPANTS", 100)
    assert client.post(f"{url}/join", headers=t2).status_code == 200

    # Only the presenter moves the view, and only on the collection's copies.
    assert client.post(f"{url}/view", json=view(copy), headers=teacher).status_code == 204
    assert client.post(f"{url}/view", json=view(copy), headers=t1).status_code == 403
    elsewhere = view(teaching.slide)
    assert client.post(f"{url}/view", json=elsewhere, headers=teacher).status_code == 422
    assert (
        "view",
        {
            **view(copy),
            "rotation": 0.0,
            "pointer": None,
            "annotations": False,
            "presenter": "path_north",
        },
    ) in sent

    # A hand goes up; the teacher hands over the pointer; trainee1 presents.
    assert client.post(f"{url}/hand", json={"raised": True}, headers=t1).status_code == 204
    hands = client.get(url, headers=teacher).json()["participants"]
    assert [p["hand_raised"] for p in hands] == [True, False]
    assert (
        client.post(f"{url}/pointer", json={"username": "trainee1"}, headers=t1).status_code == 403
    )
    assert (
        client.post(f"{url}/pointer", json={"username": "nobody"}, headers=teacher).status_code
        == 422
    )
    assert client.post(f"{url}/pointer", json={"username": "trainee1"}, headers=teacher).is_success
    assert client.get(url, headers=t2).json()["presenter"] == "trainee1"
    assert client.post(f"{url}/view", json=view(copy, 900), headers=t1).status_code == 204
    assert client.post(f"{url}/view", json=view(copy), headers=teacher).status_code == 403
    rooms = [data for event, data in sent if event == "room"]
    assert rooms and rooms[-1]["presenter"] == "trainee1"

    # Annotations through the conference: members only, while it runs.
    shown = client.get(f"{url}/annotations/{copy}", headers=t2)
    assert shown.status_code == 200 and len(shown.json()["features"]) == 1
    outsider = trainees.auth("path_south")
    assert client.get(f"{url}/annotations/{copy}", headers=outsider).status_code == 403
    assert client.get(f"{url}/annotations/{teaching.slide}", headers=t2).status_code == 404

    # The pointer goes back when its holder leaves; the teacher ends; the path stays.
    assert client.post(f"{url}/leave", headers=t1).status_code == 204
    assert client.get(url, headers=t2).json()["presenter"] == "path_north"
    assert client.post(f"{url}/end", headers=t2).status_code == 403
    assert client.post(f"{url}/end", headers=teacher).status_code == 204
    assert ("ended", {}) in sent
    assert client.post(f"{url}/join", headers=t1).status_code == 409
    steps = client.get(f"{url}/walkthrough", headers=t2).json()
    assert [(s["presenter"], s["view"]["center"][0]) for s in steps] == [
        ("path_north", 500.0),
        ("trainee1", 900.0),
    ]
    assert client.get(base, headers=t1).json() == []
    assert client.get(f"/api/teaching/conferences/{uuid.uuid4()}", headers=t1).status_code == 404
    assert client.get(url, headers=trainees.auth("tech_north")).status_code == 404
