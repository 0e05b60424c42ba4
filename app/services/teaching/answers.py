"""Self-assessment: a trainee's diagnosis of a teaching case, then the expert's beside it.

A trainee answers once per item (category and text); until then the item's
diagnosis and the expert's annotations on its copies are withheld from them (the
annotation routes of slides are closed to trainees: `app.api.trainee`). Teachers
see every trainee's answers; a trainee sees their own progress.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.core.errors import ConflictError, PermissionDeniedError
from app.core.i18n import N_
from app.models.accounts import Role, User
from app.models.slides import SlideRecord
from app.models.teaching import (
    AnswerCreate,
    ClassAnswers,
    ItemPublic,
    ProgressRow,
    TeachingAnswer,
    TeachingItem,
)
from app.services import annotations as annotation_service
from app.services.context import Context
from app.services.teaching.collections import (
    answer_public,
    copies_of,
    done,
    is_teacher,
    item_public,
    items_of,
    visible_collection,
)
from tiler import NotFoundError


def visible_item(session: Session, user: User, item_id: str) -> TeachingItem:
    try:
        key = uuid.UUID(item_id)
    except ValueError as error:
        raise NotFoundError(N_("no such teaching case")) from error
    item = session.get(TeachingItem, key)
    if item is None:
        raise NotFoundError(N_("no such teaching case"))
    visible_collection(session, user, str(item.collection_id))
    return item


def _own(session: Session, user: User, item: TeachingItem) -> TeachingAnswer | None:
    return session.exec(
        select(TeachingAnswer).where(
            TeachingAnswer.item_id == item.id, TeachingAnswer.user_id == user.id
        )
    ).first()


def read_item(ctx: Context, item_id: str) -> ItemPublic:
    with ctx.db.read() as session:
        item = visible_item(session, ctx.user, item_id)
        own = _own(session, ctx.user, item)
        slides = copies_of(session, [item])[item.id]
    done(ctx, "teaching.item.read", "teaching_item", item.id)
    return item_public(item, slides, ctx.user, own, 0)


def answer(ctx: Context, item_id: str, data: AnswerCreate) -> ItemPublic:
    if ctx.user.role != Role.trainee:
        raise PermissionDeniedError(N_("trainees answer teaching cases"))
    row: TeachingAnswer
    try:
        with ctx.db.write() as session:
            item = visible_item(session, ctx.user, item_id)
            if _own(session, ctx.user, item) is not None:
                raise ConflictError(N_("you answered this case already"))
            row = TeachingAnswer(
                item_id=item.id,
                user_id=ctx.user.id,
                username=ctx.user.username,
                category=data.category,
                text=data.text,
            )
            session.add(row)
            session.flush()
            slides = copies_of(session, [item])[item.id]
    except IntegrityError as error:  # two tabs at once
        raise ConflictError(N_("you answered this case already")) from error
    done(ctx, "teaching.answer", "teaching_item", item.id)
    return item_public(item, slides, ctx.user, row, 0)


def expert_annotations(ctx: Context, item_id: str) -> dict[str, Any]:
    """`{"slides": {copy id: FeatureCollection}}`: teachers, and trainees who answered."""
    with ctx.db.read() as session:
        item = visible_item(session, ctx.user, item_id)
        if not is_teacher(ctx.user) and _own(session, ctx.user, item) is None:
            raise PermissionDeniedError(
                N_("answer the case first: then the expert's annotations show")
            )
        slides = {}
        for slide_id in copies_of(session, [item])[item.id]:
            slide = session.get(SlideRecord, slide_id)
            assert slide is not None
            slides[str(slide_id)] = json.loads(annotation_service.collection_json(session, slide))
    done(ctx, "teaching.annotations", "teaching_item", item.id)
    return {"slides": slides}


def class_answers(ctx: Context, collection_id: str) -> ClassAnswers:
    """Teachers: every trainee's answers and progress; a trainee: their own."""
    with ctx.db.read() as session:
        collection = visible_collection(session, ctx.user, collection_id)
        items = items_of(session, collection.id)
        query = select(TeachingAnswer).where(
            col(TeachingAnswer.item_id).in_([item.id for item in items])
        )
        if not is_teacher(ctx.user):
            query = query.where(TeachingAnswer.user_id == ctx.user.id)
        rows = list(session.exec(query.order_by(col(TeachingAnswer.answered_at))).all())
    by_id = {item.id: item for item in items}
    answers: dict[str, list[Any]] = {str(item.id): [] for item in items}
    progress: dict[str, ProgressRow] = {}
    for row in rows:
        item = by_id[row.item_id]
        public = answer_public(row, item)
        answers[str(item.id)].append(public)
        line = progress.setdefault(
            row.username, ProgressRow(username=row.username, answered=0, agreed=0, of=len(items))
        )
        line.answered += 1
        line.agreed += int(public.agrees)
    done(ctx, "teaching.answers.read", "teaching_collection", collection.id)
    return ClassAnswers(
        progress=sorted(progress.values(), key=lambda p: p.username), answers=answers
    )
