"""A case's attachments: `GET /api/cases/{id}/attachments`, a document's download, and
`DELETE` of one until the case is reported.

They are added through the tus upload (`/api/uploads/`, metadata `purpose=attachment`
and `case`). A document is sent only as a download: `Content-Disposition: attachment`,
its own type, and a `sandbox` Content-Security-Policy, so that even a browser told to
show it in a tab runs none of its scripts with the hub's origin (nosniff is on every
answer: `app.api.headers`).
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse

from app.api.deps import ContextDep, SettingsDep, TilesDep
from app.models.attachments import AttachmentList
from app.services.attachments import service

router = APIRouter(prefix="/api/cases", tags=["attachments"])

#: Nothing in a served document may run, load or navigate as the hub's origin.
DOCUMENT_CSP = "sandbox; default-src 'none'"


@router.get("/{case_id}/attachments")
def list_attachments(case_id: str, ctx: ContextDep) -> AttachmentList:
    """The case's photographs, camera images and documents, oldest first; `href` opens each
    (an image in the viewer, a document as a download). Documents with scripts or
    automatic actions say so in `active_content`."""
    return service.list_for_case(ctx, case_id)


@router.get("/{case_id}/attachments/{attachment_id}/file", response_class=FileResponse)
def download_attachment(
    case_id: str, attachment_id: str, ctx: ContextDep, settings: SettingsDep
) -> FileResponse:
    """A document as it was received: `application/pdf`, always as a download."""
    row, path = service.document(ctx, settings, case_id, attachment_id)
    name = row.name if row.name.lower().endswith(".pdf") else f"{row.name}.pdf"
    return FileResponse(
        path,
        media_type="application/pdf",
        filename=name,
        content_disposition_type="attachment",
        headers={"Content-Security-Policy": DOCUMENT_CSP, "Cache-Control": "private, no-store"},
    )


@router.delete("/{case_id}/attachments/{attachment_id}", status_code=204)
def delete_attachment(
    case_id: str, attachment_id: str, ctx: ContextDep, settings: SettingsDep, tiles: TilesDep
) -> Response:
    """Take an attachment off its case (e.g. a photograph of the wrong patient) until the case
    is reported (409 after): an image's slide and its annotations go with it."""
    slide = service.remove(ctx, settings, case_id, attachment_id)
    if slide is not None:
        tiles.forget(slide)
    return Response(status_code=204)
