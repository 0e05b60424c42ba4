"""Annotations of a slide as QuPath-style GeoJSON: list, add, change, delete, history, restore.

Everyone who may see the slide may read its annotations; pathologists write them
(they decide the case). Every call is audited and every change is broadcast to the
slide's live viewers (`app.api.routes.live`).
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from annotations import feature_collection, parse_collection, parse_feature
from app.api.deps import ActorDep, CurrentUser, DatabaseDep, SessionDep
from app.core import audit
from app.core.audit import Actor
from app.core.db import Database
from app.core.errors import PermissionDeniedError, UnprocessableError
from app.models.accounts import Role, User
from app.models.annotations import AnnotationRevisionPublic, RestoreRequest
from app.models.audit import Outcome
from app.models.slides import SlideRecord
from app.services import annotations as store
from app.services.live import LiveHub
from app.services.slides import visible_slide_audited
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
        raise PermissionDeniedError("pathologists annotate; others may read the annotations")
    return user


Annotator = Annotated[User, Depends(get_annotator)]


def get_hub(request: Request) -> LiveHub:
    hub = request.app.state.live
    assert isinstance(hub, LiveHub)
    return hub


HubDep = Annotated[LiveHub, Depends(get_hub)]


def _json(body: Any, status: int = 200) -> Response:
    # Built by hand: 10,000 features through response-model validation cost seconds.
    return Response(json.dumps(body, separators=(",", ":")), status_code=status, media_type=GEOJSON)


def _annotation_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError as error:
        raise NotFoundError("no such annotation") from error


def _record(
    db: Database, actor: Actor, action: str, slide: SlideRecord, annotation_id: Any, detail: str
) -> None:
    audit.record(
        db,
        actor,
        action,
        Outcome.success,
        object_type="annotation",
        object_id=annotation_id,
        site_id=slide.site_id,
        detail=detail,
    )


@router.get("", response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
def list_annotations(
    slide_id: str,
    user: CurrentUser,
    actor: ActorDep,
    session: SessionDep,
    db: DatabaseDep,
    format: Annotated[Literal["slidebridge", "qupath"], Query()] = "slidebridge",
) -> Response:
    """The slide's annotations; `format=qupath` leaves out our provenance (for QuPath)."""
    slide = visible_slide_audited(session, db, user, actor, slide_id, "annotation.list")
    text = store.collection_json(session, slide, provenance=format == "slidebridge")
    return Response(text, media_type=GEOJSON)


@router.post("", status_code=201, response_class=Response, openapi_extra=_FEATURES_DOC)
def add_annotations(
    slide_id: str,
    payload: Annotated[Any, Body()],
    user: Annotator,
    actor: ActorDep,
    session: SessionDep,
    db: DatabaseDep,
    hub: HubDep,
) -> Response:
    """Add features (a QuPath export imports as it is); 422 with the reason if one is invalid."""
    slide = visible_slide_audited(session, db, user, actor, slide_id, "annotation.create")
    session.rollback()  # end the read snapshot before writing
    features = parse_collection(payload, slide.width, slide.height)
    if not features:
        raise UnprocessableError("no features to add")
    rows = store.create(db, slide, features, user)
    written = [store.feature_of(row, slide) for row in rows]
    _record(db, actor, "annotation.create", slide, rows[0].id, f"{len(rows)} feature(s)")
    for feature in written:
        hub.publish(slide.id, "annotation", {"change": "created", "feature": feature})
    return _json(feature_collection(written), status=201)


@router.put("/{annotation_id}", response_class=Response, openapi_extra=_FEATURES_DOC)
def change_annotation(
    slide_id: str,
    annotation_id: str,
    payload: Annotated[Any, Body()],
    user: Annotator,
    actor: ActorDep,
    session: SessionDep,
    db: DatabaseDep,
    hub: HubDep,
) -> Response:
    """Replace one feature's geometry and properties; the previous version is kept."""
    slide = visible_slide_audited(session, db, user, actor, slide_id, "annotation.update")
    session.rollback()
    key = _annotation_id(annotation_id)
    if isinstance(payload, dict) and payload.get("id") not in (None, str(key)):
        raise UnprocessableError("the feature's id differs from the one in the path")
    if isinstance(payload, dict):
        payload = {**payload, "id": str(key)}
    feature = parse_feature(payload, slide.width, slide.height)
    row = store.update(db, slide, feature, user)
    written = store.feature_of(row, slide)
    _record(db, actor, "annotation.update", slide, key, f"version {row.version}")
    hub.publish(slide.id, "annotation", {"change": "updated", "feature": written})
    return _json(written)


@router.delete("/{annotation_id}", status_code=204)
def delete_annotation(
    slide_id: str,
    annotation_id: str,
    user: Annotator,
    actor: ActorDep,
    session: SessionDep,
    db: DatabaseDep,
    hub: HubDep,
) -> Response:
    slide = visible_slide_audited(session, db, user, actor, slide_id, "annotation.delete")
    session.rollback()
    key = _annotation_id(annotation_id)
    row = store.delete(db, slide, key, user)
    _record(db, actor, "annotation.delete", slide, key, f"version {row.version}")
    hub.publish(slide.id, "annotation", {"change": "deleted", "id": str(key)})
    return Response(status_code=204)


@router.get("/{annotation_id}/history")
def annotation_history(
    slide_id: str,
    annotation_id: str,
    user: CurrentUser,
    actor: ActorDep,
    session: SessionDep,
    db: DatabaseDep,
) -> list[AnnotationRevisionPublic]:
    """Every version, oldest first: who changed it, when, and the feature as it was then."""
    slide = visible_slide_audited(session, db, user, actor, slide_id, "annotation.history")
    revisions = store.history(session, slide, _annotation_id(annotation_id))
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
    user: Annotator,
    actor: ActorDep,
    session: SessionDep,
    db: DatabaseDep,
    hub: HubDep,
) -> Response:
    """Bring back an earlier version (also of a deleted annotation) as the newest one."""
    slide = visible_slide_audited(session, db, user, actor, slide_id, "annotation.restore")
    session.rollback()
    key = _annotation_id(annotation_id)
    row, _ = store.restore(db, slide, key, body.version, user)
    written = store.feature_of(row, slide)
    _record(db, actor, "annotation.restore", slide, key, f"version {body.version} as {row.version}")
    hub.publish(slide.id, "annotation", {"change": "restored", "feature": written})
    return _json(written)
