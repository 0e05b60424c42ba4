"""Every word the report documents print, in one place (translations come later).

Keys are stable; the PDF and the FHIR narrative look words up here only.
"""

from __future__ import annotations

from app.models.cases import CaseType, Laterality, Sex

WORDS: dict[str, str] = {
    "title.frozen_section": "Frozen-section report (intraoperative consultation)",
    "title.routine": "Pathology report",
    "title.second_opinion": "Second-opinion pathology report",
    "version": "Report version {version}",
    "amended": "AMENDED: this version replaces version {previous}",
    "superseded": "SUPERSEDED: version {latest} of this report has since been signed",
    "section.patient": "Patient",
    "section.request": "Request",
    "section.result": "Result",
    "section.history": "Amendment history",
    "section.regions": "Regions pictured by the pathologist",
    "patient.name": "Name",
    "patient.mrn": "Medical record number",
    "patient.dob": "Date of birth",
    "patient.sex": "Sex",
    "request.site": "Requesting site",
    "request.surgeon": "Surgeon",
    "request.room": "Operating room",
    "request.specimen": "Specimen",
    "request.question": "Clinical question",
    "request.clinical_history": "Clinical history",
    "request.requested": "Requested",
    "result.category": "Category",
    "result.diagnosis": "Diagnosis",
    "result.margins": "Margins",
    "result.comment": "Comment",
    "result.transfer": "Transfer to the hub",
    "result.transfer_yes": "RECOMMENDED: transfer the patient to {hub}",
    "result.transfer_no": "not recommended",
    "result.transfer_banner": "TRANSFER OF THE PATIENT TO THE HUB RECOMMENDED",
    "result.signed": "Signed by",
    "result.cosigned": "Co-signed by",
    "history.version": "Version",
    "history.signed": "Signed",
    "history.by": "By",
    "history.category": "Category",
    "history.reason": "Reason for the amendment",
    "history.first": "first report",
    "region.caption": "Region {position}: slide {slide}{what}; field {width} × {height}",  # noqa: RUF001
    "none": "not given",
    "case": "Case {case}",
    "page": "page {page}",
    "footer": "{hub} · {case} · report version {version} · MRN {mrn}",
}

SEX_WORDS: dict[Sex, str] = {
    Sex.female: "female",
    Sex.male: "male",
    Sex.other: "other",
    Sex.unknown: "unknown",
}

LATERALITY_WORDS: dict[Laterality, str] = {
    Laterality.left: "left",
    Laterality.right: "right",
    Laterality.bilateral: "bilateral",
    Laterality.midline: "midline",
    Laterality.not_applicable: "",
}


def word(key: str, **values: object) -> str:
    return WORDS[key].format(**values)


def title(case_type: CaseType) -> str:
    return WORDS[f"title.{case_type}"]  # a row read back holds the plain string
