"""The signed report leaving the system: `GET /api/cases/{id}/report.pdf` (A4) and
`GET /api/cases/{id}/report.fhir.json` (a FHIR R4 DiagnosticReport with the PDF as its
presentedForm). `?version=N` asks for an earlier version; without it, the current one.
Their words are in the reader's language (`?lang=en|zh-Hans`, else the user's own, else
the browser's); the data is as written, the dates ISO in every language.

Both carry the version in the document, in `ETag` and in `SlideBridge-Report-Version`;
`If-None-Match` with the ETag is a 304 without making the document again. Every
request is audited (`case.report.pdf`, `case.report.fhir`); another site's case, or a
case without a signed report, is a 404.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.api.deps import ContextDep, SettingsDep
from app.api.language import request_language
from app.core.i18n import supported
from app.services.reports import document, fhir, pdf
from app.services.reports.document import ReportDocument

router = APIRouter(prefix="/api/cases", tags=["reports"])

#: The browser may keep a version (its bytes never change) but must ask before reusing
#: it; shared workstations get no-store (`app.api.headers`).
CACHE = "private, no-cache"
VersionQuery = Annotated[int | None, Query(ge=1, le=10_000)]


LanguageQuery = Annotated[
    str | None, Query(description="The words' language: `en` or `zh-Hans`.", max_length=35)
]


def _language(request: Request, asked: str | None) -> str:
    """`?lang=` when it names a language of ours, else the reader's (a tag we do not
    have is not an error: the reader gets the language they would have got anyway)."""
    return supported(asked) or request_language(request)


def _headers(doc: ReportDocument, kind: str) -> dict[str, str]:
    return {
        "ETag": doc.etag(kind),
        "Content-Language": doc.language,
        "Vary": "Accept-Language, Cookie",
        "Cache-Control": CACHE,
        "SlideBridge-Report-Version": str(doc.version),
    }


def _answer(
    request: Request,
    doc: ReportDocument,
    kind: str,
    media_type: str,
    make: Callable[[ReportDocument], bytes],
    extra: dict[str, str] | None = None,
) -> Response:
    """The document, or a 304 when the client holds this version's already (not made again)."""
    headers = _headers(doc, kind)
    held = [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]
    if doc.etag(kind) in held:
        return Response(status_code=304, headers=headers)
    return Response(make(doc), media_type=media_type, headers={**headers, **(extra or {})})


@router.get("/{case_id}/report.pdf", response_class=Response)
def report_pdf(
    case_id: str,
    request: Request,
    ctx: ContextDep,
    settings: SettingsDep,
    version: VersionQuery = None,
    lang: LanguageQuery = None,
) -> Response:
    """The report as an A4 PDF, shown inline (the browser's viewer prints it)."""
    language = _language(request, lang)
    doc = document.load(ctx, settings.hub_name, case_id, version, "case.report.pdf", language)
    name = f"report-{doc.case.id}-v{doc.version}.pdf"
    disposition = {"Content-Disposition": f'inline; filename="{name}"'}
    return _answer(request, doc, "pdf", "application/pdf", pdf.render, disposition)


def _fhir_json(doc: ReportDocument) -> bytes:
    report = fhir.diagnostic_report(doc, pdf.render(doc))
    return json.dumps(report, ensure_ascii=False).encode()


@router.get("/{case_id}/report.fhir.json", response_class=Response)
def report_fhir(
    case_id: str,
    request: Request,
    ctx: ContextDep,
    settings: SettingsDep,
    version: VersionQuery = None,
    lang: LanguageQuery = None,
) -> Response:
    """The report as a FHIR R4 DiagnosticReport (`application/fhir+json`)."""
    language = _language(request, lang)
    doc = document.load(ctx, settings.hub_name, case_id, version, "case.report.fhir", language)
    return _answer(request, doc, "fhir", fhir.MEDIA_TYPE, _fhir_json)
