"""The report as a FHIR R4 DiagnosticReport (JSON), for the hospital information system.

Self-contained: the patient, the specimen and the request are contained resources
(`#patient`, `#specimen`, `#request`), the PDF of the same version is the
`presentedForm`, and `meta.versionId` is the report version (an amendment is status
`amended`). Only elements that FHIR R4 (4.0.1) and R4B (4.3.0) define alike are
used; the tests validate every document with fhir.resources' R4B models.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from app.models.cases import CATEGORY_LABELS, CaseType
from app.services.reports.document import ReportDocument
from app.services.reports.pdf import when
from app.services.reports.words import Words

MEDIA_TYPE = "application/fhir+json"
#: Where our own codes live (the category words are the hub's, not a standard's).
CATEGORY_SYSTEM = "urn:slidebridge:frozen-section-category"
#: LOINC 11529-5 "Surgical pathology study".
REPORT_CODE = {
    "system": "http://loinc.org",
    "code": "11529-5",
    "display": "Surgical pathology study",
}
#: HL7 v2 table 0074: diagnostic service section "SP" surgical pathology.
#: The two-way referral: a complex extension (recommended, note) on the report.
TRANSFER_EXTENSION = "urn:slidebridge:fhir:transfer-recommendation"
SERVICE_SECTION = {
    "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
    "code": "SP",
    "display": "Surgical Pathology",
}


def _patient(document: ReportDocument) -> dict[str, Any]:
    case, site = document.case, document.site
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": "patient",
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                            "code": "MR",
                            "display": "Medical record number",
                        }
                    ]
                },
                "system": f"urn:slidebridge:site:{site.code}:mrn",
                "value": case.patient_mrn,
                "assigner": {"display": site.name},
            }
        ],
        "name": [{"text": case.patient_name}],
        "gender": str(case.patient_sex),  # the same four codes as FHIR's AdministrativeGender
    }
    if case.patient_dob is not None:
        patient["birthDate"] = case.patient_dob.isoformat()
    return patient


def _specimen(document: ReportDocument, word: Words) -> dict[str, Any]:
    case = document.case
    side = word.side(case.specimen_laterality)
    specimen: dict[str, Any] = {
        "resourceType": "Specimen",
        "id": "specimen",
        "subject": {"reference": "#patient"},
        "receivedTime": when(case.requested_at),
        "collection": {"bodySite": {"text": case.specimen_site + (f" ({side})" if side else "")}},
    }
    if case.specimen_type:
        specimen["type"] = {"text": case.specimen_type}
    return specimen


def _request(document: ReportDocument, word: Words) -> dict[str, Any]:
    case = document.case
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": "request",
        "status": "completed",
        "intent": "order",
        "priority": "urgent" if case.type == CaseType.frozen_section else "routine",
        "code": {"text": word.title(case.type)},
        "subject": {"reference": "#patient"},
        "authoredOn": when(case.requested_at),
        "reasonCode": [{"text": case.clinical_question}],
        "specimen": [{"reference": "#specimen"}],
    }
    if case.surgeon_name:
        request["requester"] = {"display": case.surgeon_name}
    if case.history:
        request["note"] = [{"text": case.history}]
    return request


def _conclusion(document: ReportDocument, word: Words) -> str:
    report = document.report
    lines = [f"{word.category(report.category).upper()}: {report.diagnosis}"]
    if report.margins:
        lines.append(word("conclusion.margins", margins=report.margins))
    if report.comment:
        lines.append(word("conclusion.comment", comment=report.comment))
    if report.transfer:
        note = f": {report.transfer_note}" if report.transfer_note else ""
        lines.append(word("conclusion.transfer", hub=document.hub_name) + note)
    if report.reason:
        lines.append(word("conclusion.amended", version=report.version, reason=report.reason))
    return "\n".join(lines)


def _transfer(document: ReportDocument) -> dict[str, Any]:
    report = document.report
    parts: list[dict[str, Any]] = [{"url": "recommended", "valueBoolean": report.transfer}]
    if report.transfer and report.transfer_note:
        parts.append({"url": "note", "valueString": report.transfer_note})
    return {"url": TRANSFER_EXTENSION, "extension": parts}


def diagnostic_report(document: ReportDocument, pdf: bytes) -> dict[str, Any]:
    """The report in FHIR, its words and its PDF in the document's language; the codes'
    own displays stay in English (the code system's)."""
    language = document.language
    word = Words(language)
    case, report = document.case, document.report
    signer = report.signed_by_name or report.signed_by
    return {
        "resourceType": "DiagnosticReport",
        "id": f"{case.id}-v{report.version}",
        "meta": {"versionId": str(report.version), "lastUpdated": when(report.signed_at)},
        "language": language,
        "extension": [_transfer(document)],
        "contained": [_patient(document), _specimen(document, word), _request(document, word)],
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{case.id}"}],
        "basedOn": [{"reference": "#request"}],
        "status": "amended" if report.version > 1 else "final",
        "category": [{"coding": [SERVICE_SECTION]}],
        "code": {"coding": [REPORT_CODE], "text": word.title(case.type)},
        "subject": {"reference": "#patient"},
        "effectiveDateTime": when(case.requested_at),
        "issued": when(report.signed_at),
        "performer": [{"display": document.hub_name}],
        "resultsInterpreter": [{"display": f"{signer} ({report.signed_by})"}]
        + [{"display": f"{c.full_name or c.username} ({c.username})"} for c in document.cosigns],
        "specimen": [{"reference": "#specimen"}],
        "conclusion": _conclusion(document, word),
        "conclusionCode": [
            {
                "coding": [
                    {
                        "system": CATEGORY_SYSTEM,
                        "code": str(report.category),
                        "display": CATEGORY_LABELS[report.category],
                    }
                ],
                "text": word.category(report.category),
            }
        ],
        "presentedForm": [
            {
                "contentType": "application/pdf",
                "language": language,
                "data": base64.b64encode(pdf).decode("ascii"),
                "size": len(pdf),
                # FHIR R4's Attachment.hash is the SHA-1 of the data, base64.
                "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode("ascii"),  # noqa: S324
                "title": word("title.version", title=word.title(case.type), version=report.version),
                "creation": when(report.signed_at),
            }
        ],
    }
