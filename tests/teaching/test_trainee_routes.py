"""A trainee reaches no patient data by any route: every route of the app, from its route
table, asked with a patient's ids (403 before it runs, or 404 from the access rule), and
the few routes that answer carry nothing of the patient."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from tests.cases.conftest import REQUEST
from tests.conftest import World
from tests.teaching.conftest import Teaching

#: Routes a trainee may use: nothing of a patient in their answers (checked below).
OPEN_TO_TRAINEES = {
    ("GET", "/api/users/me"),
    ("GET", "/api/slides"),
    ("POST", "/api/auth/revoke"),
    ("DELETE", "/api/auth/token"),
    ("POST", "/api/auth/token"),  # signing in: no credential needed
    ("GET", "/healthz"),
    ("GET", "/readyz"),  # readiness for a load balancer: no credential, no patient data
    ("GET", "/api/i18n"),  # the pages' message catalog
    ("PUT", "/api/users/me/language"),  # the trainee's own language
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/setup"),
    ("POST", "/setup"),
    ("GET", "/"),
    ("GET", "/slides/{slide_id}"),  # the viewer's page shell: its data calls are 404
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/openapi.json"),
    # tus capability discovery: the server's limits, no credential, nothing stored.
    ("OPTIONS", "/api/uploads"),
    ("OPTIONS", "/api/uploads/"),
    ("OPTIONS", "/api/uploads/{upload_id}"),
}


def routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    def walk(items: list[BaseRoute]) -> Iterator[BaseRoute]:
        for route in items:
            original = getattr(route, "original_router", None)
            if original is not None:
                yield from walk(original.routes)
            else:
                yield route

    for route in walk(list(app.routes)):
        if isinstance(route, APIRoute) or hasattr(route, "methods"):
            for method in sorted(getattr(route, "methods", None) or ()):
                yield method, route.path  # type: ignore[attr-defined]


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: ids.get(m.group(1), "0"), path)


def test_the_route_table_is_walked(app: FastAPI) -> None:
    found = set(routes(app))
    assert ("GET", "/api/slides/{slide_id}") in found
    assert ("PATCH", "/api/uploads/{upload_id}") in found
    assert ("GET", "/api/cases/{case_id}") in found
    assert len(found) > 60


@pytest.mark.parametrize("trainee", ["trainee1"])
def test_no_route_gives_a_trainee_patient_data(
    app: FastAPI, client: TestClient, trainees: World, teaching: Teaching, trainee: str
) -> None:
    auth = trainees.auth(trainee)
    patient = {
        "slide_id": teaching.slide,
        "case_id": teaching.case["id"],
        "code": "NORTH",
        "site": "NORTH",
        "username": "path_north",
        "upload_id": str(uuid.uuid4()),
        "transfer_id": str(uuid.uuid4()),
        "annotation_id": str(uuid.uuid4()),
        "name": "label",
        "level": "12",
        "col": "0",
        "row": "0",
        "fmt": "jpeg",
        "region": "full",
        "size": "max",
        "rotation": "0",
        "quality_format": "default.jpg",
        "start": "0",
        "collection_id": str(uuid.uuid4()),
        "item_id": str(uuid.uuid4()),
        "conference_id": str(uuid.uuid4()),
    }
    markers = [
        teaching.slide,
        teaching.case["id"],
        REQUEST["patient_name"],
        REQUEST["patient_mrn"],
        "NORTH",
    ]
    checked = 0
    # Signing out revokes the token the walk uses: those routes go last.
    sign_out = {("POST", "/api/auth/revoke"), ("DELETE", "/api/auth/token"), ("POST", "/logout")}
    for method, template in sorted(routes(app), key=lambda route: route in sign_out):
        if template.startswith("/static"):
            continue
        path = fill(template, patient)
        response = client.request(
            method,
            path,
            headers={**auth, "Origin": "https://testserver"},
            json={} if method in ("POST", "PUT", "PATCH") else None,
        )
        checked += 1
        if (method, template) in OPEN_TO_TRAINEES or template.startswith(
            ("/api/teaching", "/teaching")
        ):
            assert response.status_code != 500, (method, path)
            text = response.text
            for marker in markers:
                assert marker not in text, (method, path, marker)
            continue
        assert response.status_code in (401, 403, 404), (method, path, response.status_code)
        if "{slide_id}" in template and response.status_code != 403:
            assert response.status_code == 404, (method, path, response.status_code)
    assert checked > 60


def test_a_patient_slide_is_404_on_every_open_slide_route(
    client: TestClient, trainees: World, teaching: Teaching
) -> None:
    """The routes trainees may use for copies answer a patient's slide as unknown."""
    auth, slide = trainees.auth("trainee1"), teaching.slide
    for path in (
        f"/api/slides/{slide}",
        f"/api/slides/{slide}/thumbnail",
        f"/dzi/{slide}.dzi",
        f"/dzi/{slide}_files/12/0_0.jpeg",
        f"/iiif/3/{slide}/info.json",
        f"/iiif/3/{slide}/full/max/0/default.jpg",
        f"/slides/{slide}",
    ):
        response = client.get(path, headers=auth)
        if path.startswith("/slides/"):
            assert response.status_code == 200  # the page shell; its data calls are 404
            continue
        assert response.status_code == 404, (path, response.status_code)
    listed: Any = client.get("/api/slides", headers=auth).json()
    assert [item["id"] for item in listed["items"]] == teaching.item["slides"]
