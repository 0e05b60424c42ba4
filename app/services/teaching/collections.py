"""Teaching collections: made by pathologists, read by every teaching role across sites.

Adding an item reads the original (a case that has a signed report, or one slide)
through the audited lookup, so the access to patient data is recorded; every slide
is checked before any is copied, and an item is all its copies or nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.core import audit
from app.core.access import TEACHING_ROLES
from app.core.config import Settings
from app.core.errors import ConflictError, PermissionDeniedError, UnprocessableError
from app.core.i18n import N_, Message
from app.core.storage import slide_file
from app.models.accounts import Role, User
from app.models.audit import Outcome
from app.models.cases import CATEGORY_LABELS, Case, CaseSlide, Category, Report
from app.models.jobs import Job
from app.models.slides import SlideRecord
from app.models.teaching import (
    AnswerPublic,
    CollectionCreate,
    CollectionPublic,
    ItemCreate,
    ItemKind,
    ItemPublic,
    TeachingAnswer,
    TeachingCollection,
    TeachingCopy,
    TeachingItem,
)
from app.services import annotations as annotation_service
from app.services.audited import visible_case_audited, visible_slide_audited
from app.services.context import Context
from app.services.teaching.copies import check_rewritable, make_copy, scrub
from tiler import NotFoundError


def done(
    ctx: Context,
    action: str,
    object_type: str,
    object_id: uuid.UUID | None,
    *,
    detail: str | None = None,
) -> None:
    """Audit a teaching action that succeeded (refusals are audited where they happen)."""
    audit.record(
        ctx.db,
        ctx.actor,
        action,
        Outcome.success,
        object_type=object_type,
        object_id=object_id,
        detail=detail,
    )


def is_teacher(user: User) -> bool:
    """Pathologists make collections and see every answer; admins see them too."""
    return user.role in (Role.pathologist, Role.admin)


def require_pathologist(user: User, refusal: Message) -> None:
    """`refusal` says what only pathologists do, whole, so it is translated whole."""
    if user.role != Role.pathologist:
        raise PermissionDeniedError(refusal)


def visible_collection(session: Session, user: User, collection_id: str) -> TeachingCollection:
    """The collection, for any teaching role; anyone else, and an unknown id, get a 404."""
    try:
        key = uuid.UUID(collection_id)
    except ValueError as error:
        raise NotFoundError(N_("no such collection")) from error
    found = session.get(TeachingCollection, key) if user.role in TEACHING_ROLES else None
    if found is None:
        raise NotFoundError(N_("no such collection"))
    return found


def create(ctx: Context, data: CollectionCreate) -> TeachingCollection:
    require_pathologist(ctx.user, N_("pathologists make teaching collections"))
    row = TeachingCollection.model_validate(
        data, update={"created_by_id": ctx.user.id, "created_by": ctx.user.username}
    )
    with ctx.db.write() as session:
        session.add(row)
    done(ctx, "teaching.collection.create", "teaching_collection", row.id, detail=row.name[:200])
    return row


@dataclass(frozen=True)
class Added:
    item: TeachingItem
    slides: list[uuid.UUID]
    jobs: list[uuid.UUID]


def add_item(ctx: Context, settings: Settings, collection_id: str, data: ItemCreate) -> Added:
    """De-identified copies of a reported case's slides (or of one slide) as a new item."""
    require_pathologist(ctx.user, N_("pathologists add teaching cases"))
    if (data.case is None) == (data.slide is None):
        raise UnprocessableError(N_('give either "case" or "slide"'))
    with ctx.db.read() as session:
        collection = visible_collection(session, ctx.user, collection_id)
        case, sources, report = _originals(session, ctx, data)
        position = (
            1
            + session.exec(
                select(func.count()).where(TeachingItem.collection_id == collection.id)
            ).one()
        )
    for source in sources:  # refuse before anything is written
        check_rewritable(source)
        if not slide_file(settings, source.storage_path).is_file():
            raise ConflictError(N_("the slide's file is not at the hub"))
    title = data.title or f"Case {position}"
    copies = [
        make_copy(settings, source, f"{title}, slide {n}" if len(sources) > 1 else title)
        for n, source in enumerate(sources, 1)
    ]
    item = TeachingItem(
        collection_id=collection.id,
        position=position,
        kind=ItemKind.case if case is not None else ItemKind.slide,
        title=title,
        specimen_site=case.specimen_site if case is not None else None,
        category=report.category if report is not None else None,
        diagnosis=scrub(report.diagnosis, case) if report is not None else None,
        reported_by=report.signed_by_name or report.signed_by if report is not None else None,
        added_by=ctx.user.username,
    )
    jobs = []
    with ctx.db.write() as session:
        session.add(item)
        session.flush()
        for n, copy in enumerate(copies):
            session.add(copy)
            session.flush()
            session.add(TeachingCopy(slide_id=copy.id, item_id=item.id, position=n))
            job = Job(slide_id=copy.id, priority=0)
            session.add(job)
            jobs.append(job.id)
    for source, copy in zip(sources, copies, strict=True):
        annotation_service.copy_all(ctx, source, copy)
        done(
            ctx,
            "teaching.copy",
            "slide",
            copy.id,
            detail=f"de-identified copy of slide {source.id}",
        )
    return Added(item, [copy.id for copy in copies], jobs)


def _originals(
    session: Session, ctx: Context, data: ItemCreate
) -> tuple[Case | None, list[SlideRecord], Report | None]:
    if data.slide is not None:
        return None, [visible_slide_audited(session, ctx, data.slide, "teaching.read")], None
    assert data.case is not None
    case = visible_case_audited(session, ctx, data.case, "teaching.read")
    report = session.exec(
        select(Report).where(Report.case_id == case.id).order_by(col(Report.version).desc())
    ).first()
    if report is None:
        raise ConflictError(N_("only a reported case can be taught: this one has no signed report"))
    slides = list(
        session.exec(
            select(SlideRecord)
            .join(CaseSlide, col(CaseSlide.slide_id) == col(SlideRecord.id))
            .where(CaseSlide.case_id == case.id)
            .order_by(col(CaseSlide.attached_at))
        ).all()
    )
    if not slides:
        raise ConflictError(N_("the case has no slides"))
    return case, slides, report


# --- reading ----------------------------------------------------------------------------


def answer_public(answer: TeachingAnswer, item: TeachingItem) -> AnswerPublic:
    category = Category(answer.category)
    return AnswerPublic(
        username=answer.username,
        category=category,
        category_label=CATEGORY_LABELS[category],
        text=answer.text,
        answered_at=answer.answered_at,
        agrees=answer.category == item.category,
    )


def item_public(
    item: TeachingItem,
    slides: list[uuid.UUID],
    user: User,
    own: TeachingAnswer | None,
    answers: int,
) -> ItemPublic:
    """The expert's diagnosis is shown to teachers, and to a trainee once they answered."""
    public = ItemPublic(
        id=item.id,
        position=item.position,
        kind=item.kind,
        title=item.title,
        specimen_site=item.specimen_site,
        slides=slides,
        answers=answers,
        answer=answer_public(own, item) if own is not None else None,
    )
    if is_teacher(user) or own is not None:
        category = Category(item.category) if item.category else None  # text from the row
        public.category = category
        public.category_label = CATEGORY_LABELS[category] if category else None
        public.diagnosis = item.diagnosis
        public.reported_by = item.reported_by
    return public


def items_of(session: Session, collection_id: uuid.UUID) -> list[TeachingItem]:
    return list(
        session.exec(
            select(TeachingItem)
            .where(TeachingItem.collection_id == collection_id)
            .order_by(col(TeachingItem.position))
        ).all()
    )


def copies_of(session: Session, items: list[TeachingItem]) -> dict[uuid.UUID, list[uuid.UUID]]:
    found: dict[uuid.UUID, list[uuid.UUID]] = {item.id: [] for item in items}
    if items:
        rows = session.exec(
            select(TeachingCopy)
            .where(col(TeachingCopy.item_id).in_(list(found)))
            .order_by(col(TeachingCopy.position))
        ).all()
        for row in rows:
            found[row.item_id].append(row.slide_id)
    return found


def describe(ctx: Context, collection_id: str) -> CollectionPublic:
    with ctx.db.read() as session:
        collection = visible_collection(session, ctx.user, collection_id)
        items = items_of(session, collection.id)
        copies = copies_of(session, items)
        answers = list(
            session.exec(
                select(TeachingAnswer).where(
                    col(TeachingAnswer.item_id).in_([item.id for item in items])
                )
            ).all()
        )
    mine = {a.item_id: a for a in answers if a.user_id == ctx.user.id}
    counts: dict[uuid.UUID, int] = {}
    for answer in answers:
        counts[answer.item_id] = counts.get(answer.item_id, 0) + 1
    done(ctx, "teaching.collection.read", "teaching_collection", collection.id)
    public = CollectionPublic.model_validate(collection, update={"items": []})
    public.items = [
        item_public(item, copies[item.id], ctx.user, mine.get(item.id), counts.get(item.id, 0))
        for item in items
    ]
    return public


def listing(ctx: Context) -> list[CollectionPublic]:
    if ctx.user.role not in TEACHING_ROLES:
        return []
    with ctx.db.read() as session:
        rows = session.exec(
            select(TeachingCollection).order_by(col(TeachingCollection.created_at).desc())
        ).all()
    done(ctx, "teaching.collection.list", "teaching_collection", None, detail=f"{len(rows)}")
    return [CollectionPublic.model_validate(row, update={"items": []}) for row in rows]
