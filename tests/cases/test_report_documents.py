"""The report leaving the system: the PDF (its text, its pictures, a page looked at as
an image) and the FHIR R4 DiagnosticReport (validated by fhir.resources), versioned
with the report, audited, and behind the site rules. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pypdfium2
import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from PIL import Image
from pypdf import PdfReader

from app.core.db import Database
from tests.cases.conftest import REPORT, REQUEST, audit_actions, ready_case
from tests.conftest import PASSWORD, World

#: A region of the small Aperio slide (2220 x 2967 px), marked "include in report".
TUMOUR = [[600, 700], [1100, 650], [1250, 1100], [800, 1300], [560, 1000], [600, 700]]


def region(ring: list[list[int]], *, in_report: bool, comment: str = "") -> dict[str, Any]:
    metadata = {"includeInReport": "true" if in_report else "false"}
    if comment:
        metadata["comment"] = comment
    return {
        "type": "Feature",
        "id": str(uuid.uuid4()),
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {
            "objectType": "annotation",
            "classification": {"name": "Tumour", "color": [200, 0, 0]},
            "metadata": metadata,
        },
    }


def post(client: TestClient, world: World, user: str, path: str, **body: Any) -> Any:
    response = client.post(path, json=body, headers=world.auth(user))
    assert response.status_code == 200, response.text
    return response.json()


def signed_case(client: TestClient, world: World) -> Any:
    """A reported case with one region in the report and one not."""
    case = ready_case(client, world)
    slide = case["slides"][0]
    features = [
        region(TUMOUR, in_report=True, comment="invasive front"),
        region([[1500, 2000], [1700, 2000], [1700, 2200], [1500, 2000]], in_report=False),
    ]
    response = client.post(
        f"/api/slides/{slide}/annotations",
        json={"type": "FeatureCollection", "features": features},
        headers=world.auth("path_north"),
    )
    assert response.status_code == 201, response.text
    post(client, world, "path_north", f"/api/cases/{case['id']}/claim")
    return post(
        client, world, "path_north", f"/api/cases/{case['id']}/report", **REPORT, password=PASSWORD
    )


def pdf_text(data: bytes) -> str:
    """The text of every page, white space (a wrapped table cell) made single spaces."""
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return " ".join(text.split())


def page_png(data: bytes, page: int, path: Path) -> Image.Image:
    """Page `page` rendered at 100 dpi by PDFium (Chrome's PDF engine)."""
    document = pypdfium2.PdfDocument(data)
    image = document[page].render(scale=100 / 72).to_pil()
    image.save(path)
    return image


def test_the_pdf_holds_the_report_and_a_picture_of_the_marked_region(
    client: TestClient, world: World, db: Database, tmp_path: Path
) -> None:
    case = signed_case(client, world)
    response = client.get(
        f"/api/cases/{case['id']}/report.pdf", headers=world.auth("surgeon_north")
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["slidebridge-report-version"] == "1"
    assert response.headers["etag"] == f'"{case["id"]}-v1-pdf-en"'
    reader = PdfReader(io.BytesIO(response.content))
    width, height = reader.pages[0].mediabox.width, reader.pages[0].mediabox.height
    assert (round(width), round(height)) == (595, 842)  # A4 in points
    text = pdf_text(response.content)
    for expected in (
        "SlideBridge consultation hub",
        REQUEST["patient_name"],
        REQUEST["patient_mrn"],
        "1961-03-14",
        "breast (left), excision margin",
        REQUEST["clinical_question"],
        "MALIGNANT",
        REPORT["diagnosis"],
        REPORT["margins"],
        REPORT["comment"],
        "Report version 1",
        "Amendment history",
        "Region 1: slide 1 · Tumour · invasive front",
    ):
        assert expected in text, (expected, text)
    signed_at = case["report"]["signed_at"][:19]
    assert signed_at in text and "+00:00" in text  # ISO time with its zone
    # One picture: the marked region only (the other annotation is not in the report).
    images = [image for page in reader.pages for image in page.images]
    assert len(images) == 1
    picture = Image.open(io.BytesIO(images[0].data)).convert("RGB")
    assert picture.width >= 600
    # The annotation is drawn: the class colour (200, 0, 0) is on the picture...
    pixels = np.asarray(picture).reshape(-1, 3).astype(int)
    reds = (pixels[:, 0] > 150) & (pixels[:, 1] < 60) & (pixels[:, 2] < 60)
    assert reds.sum() > 500
    # ...over real tissue (H&E: not blank glass).
    assert len(np.unique(pixels // 8, axis=0)) > 200
    first = page_png(response.content, 0, tmp_path / "report-page-1.png")
    assert abs(first.height / first.width - 842 / 595) < 0.01  # A4, portrait
    ink = np.asarray(first.convert("L")) < 128
    assert ink.mean() > 0.01  # the page has text on it, not a blank render
    last = page_png(response.content, len(reader.pages) - 1, tmp_path / "report-page-last.png")
    colours = np.asarray(last).reshape(-1, 3)[:, :3] // 16
    assert len(np.unique(colours, axis=0)) > 100  # the picture is on the page
    actions = audit_actions(db, case["id"])
    assert ("case.report.pdf", "success") in actions
    # The same version is the same document, and a client holding it gets a 304.
    again = client.get(f"/api/cases/{case['id']}/report.pdf", headers=world.auth("path_north"))
    assert again.content == response.content
    held = client.get(
        f"/api/cases/{case['id']}/report.pdf",
        headers={**world.auth("path_north"), "If-None-Match": response.headers["etag"]},
    )
    assert held.status_code == 304 and held.content == b""


def test_fhir_diagnostic_report_validates_and_carries_the_pdf(
    client: TestClient, world: World, db: Database
) -> None:
    case = signed_case(client, world)
    response = client.get(
        f"/api/cases/{case['id']}/report.fhir.json", headers=world.auth("path_north")
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    report = DiagnosticReport.model_validate(body)  # fhir.resources' R4B model
    assert report.status == "final"
    assert report.meta.versionId == "1"
    contained = {item.get_resource_type(): item for item in report.contained}
    assert set(contained) == {"Patient", "Specimen", "ServiceRequest"}
    patient = contained["Patient"]
    assert patient.identifier[0].value == REQUEST["patient_mrn"]
    assert patient.name[0].text == REQUEST["patient_name"]
    assert str(patient.birthDate) == "1961-03-14" and patient.gender == "female"
    assert report.subject.reference == "#patient"
    assert report.specimen[0].reference == "#specimen"
    assert contained["ServiceRequest"].reasonCode[0].text == REQUEST["clinical_question"]
    assert report.conclusionCode[0].coding[0].code == "malignant"
    assert REPORT["diagnosis"] in report.conclusion
    form = report.presentedForm[0]
    assert form.contentType == "application/pdf"
    pdf = base64.b64decode(body["presentedForm"][0]["data"])
    assert form.size == len(pdf)
    assert body["presentedForm"][0]["hash"] == base64.b64encode(hashlib.sha1(pdf).digest()).decode()
    assert (
        pdf
        == client.get(
            f"/api/cases/{case['id']}/report.pdf", headers=world.auth("path_north")
        ).content
    )
    assert ("case.report.fhir", "success") in audit_actions(db, case["id"])


def test_an_amendment_is_a_new_version_of_both_documents(client: TestClient, world: World) -> None:
    case = signed_case(client, world)
    amended = post(
        client, world, "path_north", f"/api/cases/{case['id']}/amend",
        **{**REPORT, "category": "benign", "diagnosis": "Fibroadenoma."},
        reason="Deeper levels show a fibroadenoma.", password=PASSWORD,
    )  # fmt: skip
    assert amended["report_version"] == 2
    current = client.get(f"/api/cases/{case['id']}/report.pdf", headers=world.auth("path_north"))
    assert current.headers["slidebridge-report-version"] == "2"
    assert current.headers["etag"] == f'"{case["id"]}-v2-pdf-en"'
    text = pdf_text(current.content)
    assert "Report version 2" in text and "AMENDED" in text and "BENIGN" in text
    assert "Fibroadenoma." in text and "Deeper levels show a fibroadenoma." in text, text
    assert "first report" in text  # version 1 in the amendment history
    first = client.get(
        f"/api/cases/{case['id']}/report.pdf?version=1", headers=world.auth("path_north")
    )
    assert first.status_code == 200
    old = pdf_text(first.content)
    assert "Report version 1" in old and "SUPERSEDED" in old and "Fibroadenoma" not in old
    fhir = client.get(f"/api/cases/{case['id']}/report.fhir.json", headers=world.auth("path_north"))
    report = DiagnosticReport.model_validate(fhir.json())
    assert report.status == "amended" and report.meta.versionId == "2"
    missing = client.get(
        f"/api/cases/{case['id']}/report.pdf?version=3", headers=world.auth("path_north")
    )
    assert missing.status_code == 404


def test_site_rules_and_no_report_yet(client: TestClient, world: World, db: Database) -> None:
    case = signed_case(client, world)
    for user in ("tech_south", "path_south"):
        for kind in ("pdf", "fhir.json"):
            response = client.get(
                f"/api/cases/{case['id']}/report.{kind}", headers=world.auth(user)
            )
            assert response.status_code == 404
    assert ("case.report.pdf", "not_found") in audit_actions(db, case["id"])
    unsigned = ready_case(client, world)
    response = client.get(
        f"/api/cases/{unsigned['id']}/report.pdf", headers=world.auth("tech_north")
    )
    assert response.status_code == 404
    assert "no signed report" in response.json()["detail"]


def test_a_chinese_patient_name_is_printed(client: TestClient, world: World) -> None:
    case = ready_case(client, world)
    client.patch(
        f"/api/cases/{case['id']}",
        json={"patient_name": "李秀英"},
        headers=world.auth("tech_north"),
    )
    post(client, world, "path_north", f"/api/cases/{case['id']}/claim")
    post(
        client, world, "path_north", f"/api/cases/{case['id']}/report", **REPORT, password=PASSWORD
    )
    response = client.get(f"/api/cases/{case['id']}/report.pdf", headers=world.auth("path_north"))
    assert "李秀英" in pdf_text(response.content)
    fhir = client.get(f"/api/cases/{case['id']}/report.fhir.json", headers=world.auth("path_north"))
    assert json.loads(fhir.content)["contained"][0]["name"][0]["text"] == "李秀英"


def test_the_documents_speak_the_readers_language(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    """A Chinese-language surgeon gets the report's words in Chinese (the data as written,
    dates ISO); `?lang=en` asks for English; each language is its own ETag."""
    case = ready_case(client, world)
    post(client, world, "path_north", f"/api/cases/{case['id']}/claim")
    post(
        client, world, "path_north", f"/api/cases/{case['id']}/report",
        **REPORT, transfer=True, password=PASSWORD,
    )  # fmt: skip
    surgeon = world.auth("surgeon_north")
    chosen = client.put("/api/users/me/language", json={"language": "zh-Hans"}, headers=surgeon)
    assert chosen.status_code == 200, chosen.text
    path = f"/api/cases/{case['id']}/report.pdf"
    chinese = client.get(path, headers=surgeon)
    assert chinese.status_code == 200 and chinese.headers["content-language"] == "zh-Hans"
    text = pdf_text(chinese.content)
    for said in ("冰冻切片报告", "诊断", "切缘", "恶性", "建议将患者转诊至中心医院", "签发医师"):
        assert said in text, said
    assert REPORT["diagnosis"] in text and "Diagnosis" not in text
    assert case["requested_at"][:10] in text  # the date ISO, not a local form
    page_png(chinese.content, 0, tmp_path / "report-zh.png")

    english = client.get(f"{path}?lang=en", headers=surgeon)
    assert english.headers["content-language"] == "en"
    assert "Diagnosis" in pdf_text(english.content) and "诊断" not in pdf_text(english.content)
    assert english.headers["etag"] != chinese.headers["etag"]
    again = client.get(path, headers={**surgeon, "If-None-Match": chinese.headers["etag"]})
    assert again.status_code == 304

    body = client.get(f"/api/cases/{case['id']}/report.fhir.json", headers=surgeon).json()
    report = DiagnosticReport.model_validate(body)
    assert report.language == "zh-Hans" and report.presentedForm[0].language == "zh-Hans"
    assert report.conclusion.startswith("恶性: ") and "建议将患者转诊至" in report.conclusion
    assert report.conclusionCode[0].coding[0].display == "malignant"  # the code system's


@pytest.mark.parametrize("value", ["yes", "1"])
def test_the_flag_is_a_quoted_boolean(client: TestClient, world: World, value: str) -> None:
    case = ready_case(client, world)
    feature = region(TUMOUR, in_report=True)
    feature["properties"]["metadata"]["includeInReport"] = value
    response = client.post(
        f"/api/slides/{case['slides'][0]}/annotations",
        json=feature,
        headers=world.auth("path_north"),
    )
    assert response.status_code == 422


def test_a_transfer_recommendation_is_in_both_documents(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    case = ready_case(client, world)
    post(client, world, "path_north", f"/api/cases/{case['id']}/claim")
    note = "for definitive surgery within 2 weeks"
    signed = post(
        client, world, "path_north", f"/api/cases/{case['id']}/report",
        **REPORT, transfer=True, transfer_note=note, password=PASSWORD,
    )  # fmt: skip
    assert signed["report"]["transfer"] is True and signed["report"]["transfer_note"] == note
    assert "transfer to the hub recommended" in signed["timeline"][-1]["detail"]
    text = pdf_text(
        client.get(f"/api/cases/{case['id']}/report.pdf", headers=world.auth("path_north")).content
    )
    assert "TRANSFER OF THE PATIENT TO THE HUB RECOMMENDED" in text
    assert f"RECOMMENDED: transfer the patient to SlideBridge consultation hub. {note}" in text
    page_png(
        client.get(f"/api/cases/{case['id']}/report.pdf", headers=world.auth("path_north")).content,
        0,
        tmp_path / "report-transfer.png",
    )
    body = client.get(
        f"/api/cases/{case['id']}/report.fhir.json", headers=world.auth("path_north")
    ).json()
    report = DiagnosticReport.model_validate(body)
    [extension] = report.extension
    parts = {part.url: part for part in extension.extension}
    assert parts["recommended"].valueBoolean is True and parts["note"].valueString == note
    assert (
        "Transfer of the patient to SlideBridge consultation hub recommended" in report.conclusion
    )
    # Without the recommendation the documents say so, and a note alone is not kept.
    other = ready_case(client, world)
    post(client, world, "path_north", f"/api/cases/{other['id']}/claim")
    plain = post(
        client, world, "path_north", f"/api/cases/{other['id']}/report",
        **REPORT, transfer_note="ignored", password=PASSWORD,
    )  # fmt: skip
    assert plain["report"]["transfer"] is False and plain["report"]["transfer_note"] is None
    text = pdf_text(
        client.get(f"/api/cases/{other['id']}/report.pdf", headers=world.auth("path_north")).content
    )
    assert "Transfer to the hub not recommended" in text
