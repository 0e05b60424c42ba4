"""The signed report leaving the system: `GET /api/cases/{id}/report.pdf` (A4) and
`GET /api/cases/{id}/report.fhir.json` (a FHIR R4 DiagnosticReport with the PDF as its
presentedForm). `?version=N` asks for an earlier version; without it, the current one.

Both carry the version in the document, in `ETag` and in `SlideBridge-Report-Version`;
`If-None-Match` with the ETag is a 304 without making the document again. Every
request is audited (`case.report.pdf`, `case.report.fhir`); another site's case, or a
case without a signed report, is a 404.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.api.deps import ContextDep, SettingsDep
from app.services.reports import document, fhir, pdf
from app.services.reports.document import ReportDocument

router = APIRouter(prefix="/api/cases", tags=["reports"])

#: The browser may keep a version (its bytes never change) but must ask before reusing
#: it; shared workstations get no-store (`app.api.headers`).
CACHE = "private, no-cache"
VersionQuery = Annotated[int | None, Query(ge=1, le=10_000)]


def _headers(doc: ReportDocument, kind: str) -> dict[str, str]:
    return {
        "ETag": doc.etag(kind),
        "Cache-Control": CACHE,
        "SlideBridge-Report-Version": str(doc.version),
    }


def _fresh(request: Request, doc: ReportDocument, kind: str) -> Response | None:
    """A 304 when the client holds this version's document already."""
    held = [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]
    if doc.etag(kind) in held:
        return Response(status_code=304, headers=_headers(doc, kind))
    return None


@router.get("/{case_id}/report.pdf", response_class=Response)
def report_pdf(
    case_id: str,
    request: Request,
    ctx: ContextDep,
    settings: SettingsDep,
    version: VersionQuery = None,
) -> Response:
    """The report as an A4 PDF, shown inline (the browser's viewer prints it)."""
    doc = document.load(ctx, settings.hub_name, case_id, version, "case.report.pdf")
    unchanged = _fresh(request, doc, "pdf")
    if unchanged is not None:
        return unchanged
    name = f"report-{doc.case.id}-v{doc.version}.pdf"
    headers = {**_headers(doc, "pdf"), "Content-Disposition": f'inline; filename="{name}"'}
    return Response(pdf.render(doc), media_type="application/pdf", headers=headers)


@router.get("/{case_id}/report.fhir.json", response_class=Response)
def report_fhir(
    case_id: str,
    request: Request,
    ctx: ContextDep,
    settings: SettingsDep,
    version: VersionQuery = None,
) -> Response:
    """The report as a FHIR R4 DiagnosticReport (`application/fhir+json`)."""
    doc = document.load(ctx, settings.hub_name, case_id, version, "case.report.fhir")
    unchanged = _fresh(request, doc, "fhir")
    if unchanged is not None:
        return unchanged
    body = json.dumps(fhir.diagnostic_report(doc, pdf.render(doc)), ensure_ascii=False)
    return Response(body.encode(), media_type=fhir.MEDIA_TYPE, headers=_headers(doc, "fhir"))
