"""Every word the report documents print, in one place, said in the reader's language.

Keys are stable; the PDF and the FHIR narrative look words up here only. Each text is
an English msgid marked with `N_` (so `make messages` extracts it) and said through the
catalog (`app.core.i18n`); category and choice words are the same msgids the pages use
(`static/cases/common.js`), so a surgeon reads the same word on the screen and on paper.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.i18n import N_, SOURCE_LANGUAGE, gettext
from app.models.cases import CATEGORY_LABELS, CaseType, Category, Laterality, Sex

WORDS: dict[str, str] = {
    "title.frozen_section": N_("Frozen-section report (intraoperative consultation)"),
    "title.routine": N_("Pathology report"),
    "title.second_opinion": N_("Second-opinion pathology report"),
    "version": N_("Report version {version}"),
    "amended": N_("AMENDED: this version replaces version {previous}"),
    "superseded": N_("SUPERSEDED: version {latest} of this report has since been signed"),
    "section.patient": N_("Patient"),
    "section.request": N_("Request"),
    "section.result": N_("Result"),
    "section.history": N_("Amendment history"),
    "section.regions": N_("Regions pictured by the pathologist"),
    "patient.name": N_("Full name"),
    "patient.mrn": N_("Medical record number"),
    "patient.dob": N_("Date of birth"),
    "patient.sex": N_("Sex"),
    "request.site": N_("Requesting site"),
    "request.surgeon": N_("Surgeon"),
    "request.room": N_("Operating room"),
    "request.specimen": N_("Specimen"),
    "request.question": N_("Clinical question"),
    "request.clinical_history": N_("Clinical history"),
    "request.requested": N_("Requested at"),
    "result.category": N_("Category"),
    "result.diagnosis": N_("Diagnosis"),
    "result.margins": N_("Margins"),
    "result.comment": N_("Comment"),
    "result.transfer": N_("Transfer to the hub"),
    "result.transfer_yes": N_("RECOMMENDED: transfer the patient to {hub}"),
    "result.transfer_no": N_("not recommended"),
    "result.transfer_banner": N_("TRANSFER OF THE PATIENT TO THE HUB RECOMMENDED"),
    "result.signed": N_("Signed by"),
    "result.cosigned": N_("Co-signed by"),
    "history.version": N_("Version"),
    "history.signed": N_("Signed"),
    "history.by": N_("By"),
    "history.category": N_("Category"),
    "history.reason": N_("Reason for the amendment"),
    "history.first": N_("first report"),
    "region.caption": N_("Region {position}: slide {slide}{what}; field {width} × {height}"),  # noqa: RUF001
    "none": N_("not given"),
    "case": N_("Case {case}"),
    "page": N_("page {page}"),
    "footer": N_("{hub} · {case} · report version {version} · MRN {mrn}"),
    "title.version": N_("{title}, version {version}"),
    "conclusion.margins": N_("Margins: {margins}"),
    "conclusion.comment": N_("Comment: {comment}"),
    "conclusion.transfer": N_("Transfer of the patient to {hub} recommended"),
    "conclusion.amended": N_("Amended (version {version}): {reason}"),
}

SEX_WORDS: dict[Sex, str] = {
    Sex.female: N_("female"),
    Sex.male: N_("male"),
    Sex.other: N_("other"),
    Sex.unknown: N_("unknown"),
}

LATERALITY_WORDS: dict[Laterality, str] = {
    Laterality.left: N_("left"),
    Laterality.right: N_("right"),
    Laterality.bilateral: N_("bilateral"),
    Laterality.midline: N_("midline"),
    Laterality.not_applicable: "",
}


@dataclass(frozen=True)
class Words:
    """The documents' words in one language (a BCP 47 tag of ours: `en`, `zh-Hans`)."""

    language: str = SOURCE_LANGUAGE

    def __call__(self, key: str, **values: object) -> str:
        return gettext(self.language, WORDS[key], **values)

    def _say(self, msgid: str) -> str:
        return gettext(self.language, msgid) if msgid else ""

    def title(self, case_type: CaseType) -> str:
        return self(f"title.{case_type}")  # a row read back holds the plain string

    def sex(self, sex: Sex) -> str:
        return self._say(SEX_WORDS[sex])

    def side(self, laterality: Laterality) -> str:
        return self._say(LATERALITY_WORDS[laterality])

    def category(self, category: Category) -> str:
        return self._say(CATEGORY_LABELS[category])
