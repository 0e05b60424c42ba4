"""Input the service refuses is a 4xx, never a 500, and the refusal is small and shaped
as the OpenAPI document says (`app.api.openapi`, `app.api.errors`)."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.cases.conftest import REQUEST, create_case
from tests.conftest import World


@pytest.mark.parametrize(
    "field", ["patient_mrn", "patient_name", "specimen_site", "patient_sex", "priority"]
)
def test_null_for_a_required_field_is_refused_not_a_server_error(
    client: TestClient, world: World, field: str
) -> None:
    case = create_case(client, world)
    answer = client.patch(
        f"/api/cases/{case['id']}", json={field: None}, headers=world.auth("tech_north")
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", field]
    # Fields that may be empty still take null; nothing else changed.
    answer = client.patch(
        f"/api/cases/{case['id']}", json={"history": None}, headers=world.auth("tech_north")
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["patient_mrn"] == REQUEST["patient_mrn"]


@pytest.mark.parametrize("path", ["/api/slides", "/api/cases", "/api/audit"])
def test_a_huge_offset_is_refused_not_a_server_error(
    client: TestClient, world: World, path: str
) -> None:
    for offset in (2**63, 2**31):
        answer = client.get(path, params={"offset": offset}, headers=world.auth("admin"))
        assert answer.status_code == 422, answer.text
    answer = client.get(path, params={"offset": 2**31 - 1}, headers=world.auth("admin"))
    assert answer.status_code == 200, answer.text


def test_validation_errors_do_not_echo_large_input(client: TestClient, world: World) -> None:
    big = "x" * 200_000  # under the body limit (a larger body is a 413 before validation)
    answer = client.post(
        "/api/cases", json={**REQUEST, "clinical_question": big}, headers=world.auth("tech_north")
    )
    assert answer.status_code == 422
    assert len(answer.content) < 2_000, answer.content[:2000]
    (error,) = answer.json()["detail"]
    assert error["loc"] == ["body", "clinical_question"] and "input" not in error
    # A short refused value is still shown, as FastAPI does.
    answer = client.post(
        "/api/cases", json={**REQUEST, "patient_sex": "other?"}, headers=world.auth("tech_north")
    )
    assert answer.json()["detail"][0]["input"] == "other?"


def test_every_422_is_documented_with_both_shapes(app: FastAPI) -> None:
    schema = app.openapi()
    detail = schema["components"]["schemas"]["HTTPValidationError"]["properties"]["detail"]
    kinds = {json.dumps(option, sort_keys=True) for option in detail["anyOf"]}
    assert json.dumps({"type": "string"}) in kinds
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method not in {"head", "options"}:
                assert "4XX" in operation["responses"], (method, path)
