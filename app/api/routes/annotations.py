"""Annotations of a slide as QuPath-style GeoJSON: list, add, change, delete, history, restore.

Everyone who may see the slide may read its annotations; pathologists write them
(they decide the case). The service audits every call and pushes every change to
the slide's live viewers (`app.api.routes.live`).
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Response

from annotations import feature_collection, parse_collection, parse_feature
from app.api.deps import ContextDep, CurrentUser, SessionDep
from app.core.errors import PermissionDeniedError, UnprocessableError
from app.core.i18n import N_
from app.models.accounts import Role, User
from app.models.annotations import AnnotationRevisionPublic, RestoreRequest
from app.services import annotations as service
from app.services.audited import visible_slide_audited
from tiler import NotFoundError

router = APIRouter(prefix="/api/slides/{slide_id}/annotations", tags=["annotations"])

GEOJSON = "application/geo+json"
_FEATURES_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "GeoJSON FeatureCollection (or one Feature, or a list of "
                    "Features, as QuPath writes them) in level-0 pixel coordinates",
                }
            }
        },
    }
}


def get_annotator(user: CurrentUser) -> User:
    """Pathologists write annotations; others who see the slide read them."""
    if user.role != Role.pathologist:
        raise PermissionDeniedError(N_("pathologists annotate; others may read the annotations"))
    return user


Annotator = Annotated[User, Depends(get_annotator)]


def _json(body: Any, status: int = 200) -> Response:
    # Built by hand: 10,000 features through response-model validation cost seconds.
    return Response(json.dumps(body, separators=(",", ":")), status_code=status, media_type=GEOJSON)


def _annotation_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as error:
        raise NotFoundError(N_("no such annotation")) from error


@router.get("", response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
def list_annotations(
    slide_id: str,
    ctx: ContextDep,
    session: SessionDep,
    format: Annotated[Literal["slidebridge", "qupath"], Query()] = "slidebridge",
) -> Response:
    """The slide's annotations; `format=qupath` leaves out our provenance (for QuPath)."""
    slide = visible_slide_audited(session, ctx, slide_id, "annotation.list")
    text = service.collection_json(session, slide, provenance=format == "slidebridge")
    return Response(text, media_type=GEOJSON)


@router.post("", status_code=201, response_class=Response, openapi_extra=_FEATURES_DOC)
def add_annotations(
    slide_id: str,
    payload: Annotated[Any, Body()],
    _user: Annotator,
    ctx: ContextDep,
    session: SessionDep,
) -> Response:
    """Add features (a QuPath export imports as it is); 422 with the reason if one is invalid."""
    slide = visible_slide_audited(session, ctx, slide_id, "annotation.create")
    session.rollback()  # end the read snapshot before writing
    features = parse_collection(payload, slide.width, slide.height)
    if not features:
        raise UnprocessableError(N_("no features to add"))
    return _json(feature_collection(service.add(ctx, slide, features)), status=201)


@router.put("/{annotation_id}", response_class=Response, openapi_extra=_FEATURES_DOC)
def change_annotation(
    slide_id: str,
    annotation_id: str,
    payload: Annotated[Any, Body()],
    _user: Annotator,
    ctx: ContextDep,
    session: SessionDep,
) -> Response:
    """Replace one feature's geometry and properties; the previous version is kept."""
    slide = visible_slide_audited(session, ctx, slide_id, "annotation.update")
    session.rollback()
    key = _annotation_id(annotation_id)
    if isinstance(payload, dict) and payload.get("id") not in (None, str(key)):
        raise UnprocessableError(N_("the feature's id differs from the one in the path"))
    if isinstance(payload, dict):
        payload = {**payload, "id": str(key)}
    feature = parse_feature(payload, slide.width, slide.height)
    return _json(service.change(ctx, slide, feature))


@router.delete("/{annotation_id}", status_code=204)
def delete_annotation(
    slide_id: str, annotation_id: str, _user: Annotator, ctx: ContextDep, session: SessionDep
) -> Response:
    slide = visible_slide_audited(session, ctx, slide_id, "annotation.delete")
    session.rollback()
    service.remove(ctx, slide, _annotation_id(annotation_id))
    return Response(status_code=204)


@router.get("/{annotation_id}/history")
def annotation_history(
    slide_id: str, annotation_id: str, ctx: ContextDep, session: SessionDep
) -> list[AnnotationRevisionPublic]:
    """Every version, oldest first: who changed it, when, and the feature as it was then."""
    slide = visible_slide_audited(session, ctx, slide_id, "annotation.history")
    revisions = service.history(session, slide, _annotation_id(annotation_id))
    return [
        AnnotationRevisionPublic(
            version=r.version, change=r.change, author=r.author, at=r.at, feature=r.feature
        )
        for r in revisions
    ]


@router.post("/{annotation_id}/restore", response_class=Response)
def restore_annotation(
    slide_id: str,
    annotation_id: str,
    body: RestoreRequest,
    _user: Annotator,
    ctx: ContextDep,
    session: SessionDep,
) -> Response:
    """Bring back an earlier version (also of a deleted annotation) as the newest one."""
    slide = visible_slide_audited(session, ctx, slide_id, "annotation.restore")
    session.rollback()
    return _json(service.bring_back(ctx, slide, _annotation_id(annotation_id), body.version))
