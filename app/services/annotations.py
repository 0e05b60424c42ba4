"""Annotations of a slide: add, change, delete, history and restore, one version per change.

Routes validate with `annotations.parse_*` (shapely) and call the actions here
(`add`, `change`, `remove`, `bring_back`); each writes the new current row and a kept
version in one transaction (the history can't miss a change), records the audit
event and pushes the change to the slide's live viewers.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from shapely.geometry import shape
from sqlalchemy import Text, cast, func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from annotations import Feature, measure
from annotations.geojson import SERVER_KEY, as_geojson, in_report
from annotations.history import Change, Revision, next_version, restore_target
from app.core import audit
from app.core.db import Database, EncodedJSON, encode_json
from app.core.errors import ConflictError
from app.core.i18n import N_
from app.models.accounts import User
from app.models.annotations import Annotation, AnnotationVersion, ViewState
from app.models.audit import Outcome
from app.models.slides import SlideRecord
from app.models.types import utcnow
from app.services import slide_events
from app.services.context import Context
from tiler import NotFoundError


class _Facts(NamedTuple):
    """The server-side columns of an annotation row, as `_provenance` reads them."""

    version: int
    created_by: str | None
    created_at: datetime
    updated_by: str | None
    updated_at: datetime
    area_px: float
    length_px: float


def _provenance(facts: _Facts, geometry: Any, slide: SlideRecord) -> dict[str, Any]:
    """Server-written facts about the annotation, under `properties.slidebridge`.

    `geometry` (a GeoJSON dict, or its JSON text) is read only for non-square pixels."""
    calibrated = bool(slide.mpp_x and slide.mpp_y)
    length_um: float | None = None
    if calibrated and slide.mpp_x == slide.mpp_y:
        length_um = facts.length_px * (slide.mpp_x or 0)
    elif calibrated:  # lengths must then be measured on the scaled shape
        value = json.loads(geometry) if isinstance(geometry, str) else geometry
        length_um = measure(shape(value), slide.mpp_x, slide.mpp_y).length_um
    return {
        "version": facts.version,
        "createdBy": facts.created_by,
        "createdAt": facts.created_at.isoformat(),
        "updatedBy": facts.updated_by,
        "updatedAt": facts.updated_at.isoformat(),
        "areaPx": facts.area_px,
        "lengthPx": facts.length_px,
        # Area scales by the product of the two axes' mpp, whatever the shape.
        "areaUm2": facts.area_px * (slide.mpp_x or 0) * (slide.mpp_y or 0) if calibrated else None,
        "lengthUm": length_um,
    }


def _facts(row: Annotation) -> _Facts:
    return _Facts(
        row.version,
        row.created_by,
        row.created_at,
        row.updated_by,
        row.updated_at,
        row.area_px,
        row.length_px,
    )


def feature_of(row: Annotation, slide: SlideRecord, *, provenance: bool = True) -> dict[str, Any]:
    extra = json.loads(row.provenance) if provenance else None
    return as_geojson(row.id, row.geometry, row.properties, extra)


def _stamp(row: Annotation, slide: SlideRecord) -> None:
    """Write the row's provenance text; call after every change to the row."""
    facts = _provenance(_facts(row), row.geometry, slide)
    row.provenance = json.dumps(facts, separators=(",", ":"))


def restamp_all(session: Session, slide: SlideRecord) -> int:
    """Rewrite the provenance (lengths and areas in µm) of every annotation of `slide`,
    after its calibration changed; in the caller's transaction. Returns how many."""
    rows = list(session.exec(select(Annotation).where(Annotation.slide_id == slide.id)))
    for row in rows:
        _stamp(row, slide)
        session.add(row)
    return len(rows)


def _dashed(text: str) -> str:
    """SQLite keeps UUIDs as 32 hex digits, PostgreSQL with dashes; GeoJSON ids have them."""
    if len(text) != 32:
        return text
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def collection_json(session: Session, slide: SlideRecord, *, provenance: bool = True) -> str:
    """The slide's FeatureCollection as JSON text, in creation order.

    The fast path for viewers: geometry, properties and provenance are read as the JSON
    text the database holds and spliced together, never parsed and re-serialised, and
    no ORM objects are built: 10,000 annotations in tens of milliseconds, not seconds.
    """
    columns = (
        cast(col(Annotation.id), Text),  # parsing 10,000 UUIDs alone costs 150 ms
        cast(col(Annotation.geometry), Text),
        cast(col(Annotation.properties), Text),
        col(Annotation.provenance),
    )
    query = (
        sa_select(*columns)
        .where(col(Annotation.slide_id) == slide.id)
        .order_by(col(Annotation.created_at), col(Annotation.id))
    )
    parts = []
    for raw_id, geometry, properties, stored in session.execute(query):
        if provenance:
            body = properties.rstrip()[:-1].rstrip()
            joiner = "" if body.endswith("{") else ","
            properties = f'{body}{joiner}"{SERVER_KEY}":{stored}}}'
        parts.append(
            f'{{"type":"Feature","id":"{_dashed(raw_id)}","geometry":{geometry},'
            f'"properties":{properties}}}'
        )
    return '{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}"


def _apply(row: Annotation, feature: Feature) -> None:
    row.geometry = feature.geometry
    row.properties = feature.properties
    _classify_and_measure(row, feature.shape)


def _classify_and_measure(row: Annotation, geometry: Any) -> None:
    classification = row.properties.get("classification")
    name = classification.get("name") if isinstance(classification, dict) else None
    row.class_name = name[:100] if isinstance(name, str) else None
    row.in_report = in_report(row.properties)
    sizes = measure(geometry, None, None)
    row.area_px, row.length_px = sizes.area_px, sizes.length_px


def _version(
    row: Annotation, change: Change, user: User, *, deleted: bool = False
) -> AnnotationVersion:
    return AnnotationVersion(
        slide_id=row.slide_id,
        annotation_id=row.id,
        version=row.version,
        change=change,
        geometry=None if deleted else row.geometry,
        properties=None if deleted else row.properties,
        author=user.username,
        author_id=user.id,
        at=row.updated_at,
    )


def _versions(
    session: Session, slide: SlideRecord, annotation_id: uuid.UUID
) -> list[AnnotationVersion]:
    query = select(AnnotationVersion).where(
        AnnotationVersion.slide_id == slide.id, AnnotationVersion.annotation_id == annotation_id
    )
    return list(session.exec(query.order_by(col(AnnotationVersion.version))).all())


def _row_values(row: SQLModel, encoded: dict[str, EncodedJSON]) -> dict[str, Any]:
    """The row's column values for a Core INSERT, with the JSON columns given encoded."""
    table = row.__table__  # type: ignore[attr-defined]
    values = {column.key: getattr(row, column.key) for column in table.columns}
    return {**values, **encoded}


def _taken(session: Session, slide: SlideRecord, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    taken: set[uuid.UUID] = set()
    for chunk in range(0, len(ids), 500):  # keep IN lists within backend limits
        part = ids[chunk : chunk + 500]
        taken |= set(
            session.exec(
                select(Annotation.id).where(
                    Annotation.slide_id == slide.id, col(Annotation.id).in_(part)
                )
            ).all()
        )
    return taken


def _last_versions(
    session: Session, slide: SlideRecord, ids: list[uuid.UUID]
) -> dict[uuid.UUID, int]:
    last: dict[uuid.UUID, int] = {}
    for chunk in range(0, len(ids), 500):
        kept = session.exec(
            select(AnnotationVersion.annotation_id, func.max(AnnotationVersion.version))
            .where(
                AnnotationVersion.slide_id == slide.id,
                col(AnnotationVersion.annotation_id).in_(ids[chunk : chunk + 500]),
            )
            .group_by(col(AnnotationVersion.annotation_id))
        ).all()
        last.update({key: version for key, version in kept})
    return last


def _insert(
    db: Database, slide: SlideRecord, features: list[Feature], user: User
) -> list[Annotation]:
    """Add new annotations, all or none; an id already on this slide is 409.

    An id that was deleted comes back as the next version of its history, so
    re-importing an exported file after a deletion works and loses nothing.

    Everything that costs time (measuring, provenance, encoding the JSON: most of a
    second for a 50,000-point outline) is done before the write transaction, which
    only checks the ids and inserts prepared rows: SQLite's single write lock (every
    audit row waits for it) is held for the writing alone. A POST of the same id
    meanwhile makes the insert fail on the primary key: the 409 as before."""
    ids = [feature.id for feature in features]
    with db.read() as session:
        if taken := _taken(session, slide, ids):
            raise ConflictError(
                N_("annotation {id} exists on this slide: change it with PUT", id=sorted(taken)[0])
            )
        last_version = _last_versions(session, slide, ids)
    rows: list[Annotation] = []
    row_values: list[dict[str, Any]] = []
    version_values: list[dict[str, Any]] = []
    now = utcnow()
    for i, feature in enumerate(features):
        # One microsecond apart: listing by creation time keeps the file's order.
        stamp = now + timedelta(microseconds=i)
        row = Annotation(
            slide_id=slide.id,
            id=feature.id,
            created_by=user.username,
            updated_by=user.username,
            created_at=stamp,
            updated_at=stamp,
            geometry={},
            properties={},
        )
        row.version = last_version.get(feature.id, 0) + 1
        _apply(row, feature)
        _stamp(row, slide)
        rows.append(row)
        encoded = {
            "geometry": encode_json(row.geometry),
            "properties": encode_json(row.properties),
        }
        row_values.append(_row_values(row, encoded))
        version_values.append(_row_values(_version(row, Change.created, user), encoded))
    try:
        with db.write() as session:
            if taken := _taken(session, slide, ids):  # added since the check above
                raise ConflictError(
                    N_(
                        "annotation {id} exists on this slide: change it with PUT",
                        id=sorted(taken)[0],
                    )
                )
            session.execute(insert(Annotation), row_values)
            session.execute(insert(AnnotationVersion), version_values)
    except IntegrityError as error:  # a concurrent POST of the same id
        raise ConflictError(N_("annotation id exists on this slide")) from error
    return rows


def _current(session: Session, slide: SlideRecord, annotation_id: uuid.UUID) -> Annotation:
    row = session.get(Annotation, (slide.id, annotation_id))
    if row is None:
        raise NotFoundError(N_("no such annotation"))
    return row


def _update(db: Database, slide: SlideRecord, feature: Feature, user: User) -> Annotation:
    """The new version's geometry is measured and encoded before the write transaction
    (as in `_insert`); inside it, only the row's state is read and the rows written."""
    geometry, properties = encode_json(feature.geometry), encode_json(feature.properties)
    encoded = {"geometry": geometry, "properties": properties}
    with db.write() as session:
        row = _current(session, slide, feature.id)
        version = _last_version(session, slide, feature.id) + 1
        session.expunge(row)  # written below with UPDATE, never flushed by the ORM
        _apply(row, feature)
        row.version = version
        row.updated_by, row.updated_at = user.username, utcnow()
        _stamp(row, slide)
        changed = _row_values(row, encoded)
        for key in ("slide_id", "id"):
            del changed[key]
        session.execute(
            update(Annotation)
            .where(col(Annotation.slide_id) == slide.id, col(Annotation.id) == feature.id)
            .values(changed)
        )
        kept = _row_values(_version(row, Change.updated, user), encoded)
        session.execute(insert(AnnotationVersion), [kept])
    return row


def _last_version(session: Session, slide: SlideRecord, annotation_id: uuid.UUID) -> int:
    return _last_versions(session, slide, [annotation_id]).get(annotation_id, 0)


def _delete(db: Database, slide: SlideRecord, annotation_id: uuid.UUID, user: User) -> Annotation:
    with db.write() as session:
        row = _current(session, slide, annotation_id)
        row.version = next_version(_revisions(session, slide, annotation_id))
        row.updated_by, row.updated_at = user.username, utcnow()
        session.add(_version(row, Change.deleted, user, deleted=True))
        session.delete(row)
    return row


def _revisions(session: Session, slide: SlideRecord, annotation_id: uuid.UUID) -> list[Revision]:
    return [
        Revision(
            version=kept.version,
            change=Change(kept.change),
            feature=None
            if kept.geometry is None
            else as_geojson(annotation_id, kept.geometry, kept.properties or {}),
            author=kept.author,
            at=kept.at,
        )
        for kept in _versions(session, slide, annotation_id)
    ]


def history(session: Session, slide: SlideRecord, annotation_id: uuid.UUID) -> list[Revision]:
    revisions = _revisions(session, slide, annotation_id)
    if not revisions:
        raise NotFoundError(N_("no such annotation"))
    return revisions


def _restore(
    db: Database, slide: SlideRecord, annotation_id: uuid.UUID, version: int, user: User
) -> tuple[Annotation, dict[str, Any]]:
    """Bring back `version` as a new version (also after a deletion); answers row and feature."""
    with db.write() as session:
        revisions = history(session, slide, annotation_id)
        feature = restore_target(revisions, version)
        row = session.get(Annotation, (slide.id, annotation_id))
        now = utcnow()
        if row is None:
            row = Annotation(
                slide_id=slide.id,
                id=annotation_id,
                created_by=user.username,
                created_at=now,
                geometry={},
                properties={},
            )
        row.geometry, row.properties = feature["geometry"], feature["properties"]
        _classify_and_measure(row, shape(row.geometry))
        row.version = next_version(revisions)
        row.updated_by, row.updated_at = user.username, now
        _stamp(row, slide)
        session.add(row)
        session.add(_version(row, Change.restored, user))
    return row, feature


# --- the actions: store, audit, push -------------------------------------------------


def share_view(ctx: Context, slide: SlideRecord, view: ViewState) -> None:
    """Broadcast a presenter's viewport and pointer to the slide's followers.

    Not audited per call (a presenter sends several a second, like tiles); opening
    the event stream, which is what lets anyone watch, is."""
    ctx.hub.publish(slide.id, "view", {**view.model_dump(), "presenter": ctx.user.username})


def _done(ctx: Context, action: str, slide: SlideRecord, annotation_id: Any, detail: str) -> None:
    audit.record(
        ctx.db, ctx.actor, f"annotation.{action}", Outcome.success,
        object_type="annotation", object_id=annotation_id, site_id=slide.site_id, detail=detail,
    )  # fmt: skip


def add(ctx: Context, slide: SlideRecord, features: list[Feature]) -> list[dict[str, Any]]:
    """Add new annotations, all or none; answers the features as stored."""
    rows = _insert(ctx.db, slide, features, ctx.user)
    written = [feature_of(row, slide) for row in rows]
    _done(ctx, "create", slide, rows[0].id, f"{len(rows)} feature(s)")
    slide_events.publish_many(
        ctx.db, ctx.hub, slide.id, "annotation",
        [{"change": "created", "feature": feature} for feature in written],
    )  # fmt: skip
    return written


def change(ctx: Context, slide: SlideRecord, feature: Feature) -> dict[str, Any]:
    """Replace one feature's geometry and properties; the previous version is kept."""
    row = _update(ctx.db, slide, feature, ctx.user)
    written = feature_of(row, slide)
    _done(ctx, "update", slide, feature.id, f"version {row.version}")
    slide_events.publish(
        ctx.db, ctx.hub, slide.id, "annotation", {"change": "updated", "feature": written}
    )
    return written


def remove(ctx: Context, slide: SlideRecord, annotation_id: uuid.UUID) -> None:
    row = _delete(ctx.db, slide, annotation_id, ctx.user)
    _done(ctx, "delete", slide, annotation_id, f"version {row.version}")
    slide_events.publish(
        ctx.db, ctx.hub, slide.id, "annotation", {"change": "deleted", "id": str(annotation_id)}
    )


def bring_back(
    ctx: Context, slide: SlideRecord, annotation_id: uuid.UUID, version: int
) -> dict[str, Any]:
    """Restore an earlier version (also of a deleted annotation) as the newest one."""
    row, _ = _restore(ctx.db, slide, annotation_id, version, ctx.user)
    written = feature_of(row, slide)
    _done(ctx, "restore", slide, annotation_id, f"version {version} as {row.version}")
    slide_events.publish(
        ctx.db, ctx.hub, slide.id, "annotation", {"change": "restored", "feature": written}
    )
    return written


def copy_all(ctx: Context, source: SlideRecord, target: SlideRecord) -> int:
    """The source's current annotations as new ones on `target`, a teaching copy with the
    same level-0 pixels (so the same coordinates); fresh ids, no server provenance.
    Answers how many."""
    with ctx.db.read() as session:
        rows = list(
            session.exec(
                select(Annotation)
                .where(Annotation.slide_id == source.id)
                .order_by(col(Annotation.created_at))
            ).all()
        )
    features = [
        Feature(
            id=uuid.uuid4(),
            geometry=row.geometry,
            properties={k: v for k, v in row.properties.items() if k != SERVER_KEY},
            shape=shape(row.geometry),
        )
        for row in rows
    ]
    if features:
        _insert(ctx.db, target, features, ctx.user)
        _done(ctx, "create", target, features[0].id, f"{len(features)} copied for teaching")
    return len(features)
