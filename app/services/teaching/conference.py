"""Conferences: a teacher leads up to 100 participants through a collection's slides.

The follow-me view of `annotations.share_view`, for a room: the presenter (the teacher,
or a participant handed the pointer) posts their view with the copy it is on, and
every participant's page follows it, read-only. Views, the participant list, raised
hands and the pointer's holder go out on the live hub under the conference's id (one
event stream per participant, in whichever web process holds it: the hub is the
interface a shared backend plugs into); the participants, hands and presenter are
rows, so every process answers the same list. A view is also a step of the walkthrough
when `STEP_SECONDS` passed since the last step (a replay at up to four steps a second
is the path the room saw), replayable after the conference.

When the presenter shows the annotations (`annotations` in the view), participants
read that copy's annotations through the conference while it runs, trainees who
have not answered the case included: the teacher chose to show them to the room.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.core.errors import ConflictError, PermissionDeniedError, UnprocessableError
from app.core.i18n import N_
from app.models.slides import SlideRecord
from app.models.teaching import (
    MAX_PARTICIPANTS,
    Conference,
    ConferenceCreate,
    ConferenceParticipant,
    ConferencePublic,
    ConferenceStep,
    ConferenceView,
    ParticipantPublic,
    StepPublic,
    TeachingCopy,
    TeachingItem,
)
from app.models.types import utcnow
from app.services import annotations as annotation_service
from app.services.context import Context
from app.services.teaching.collections import done, require_pathologist, visible_collection
from tiler import NotFoundError

#: The walkthrough keeps at most one view per this many seconds per conference.
STEP_SECONDS = 0.25

_last_step: dict[uuid.UUID, float] = {}
_step_lock = threading.Lock()


def _conference(session: Session, ctx: Context, conference_id: str) -> Conference:
    try:
        key = uuid.UUID(conference_id)
    except ValueError as error:
        raise NotFoundError(N_("no such conference")) from error
    found = session.get(Conference, key)
    if found is None:
        raise NotFoundError(N_("no such conference"))
    visible_collection(session, ctx.user, str(found.collection_id))
    return found


def _participants(session: Session, conference: Conference) -> list[ParticipantPublic]:
    rows = session.exec(
        select(ConferenceParticipant)
        .where(ConferenceParticipant.conference_id == conference.id)
        .order_by(col(ConferenceParticipant.joined_at))
    ).all()
    return [
        ParticipantPublic(
            username=row.username,
            joined_at=row.joined_at,
            hand_raised=row.hand_raised_at is not None,
        )
        for row in rows
    ]


def public(session: Session, conference: Conference) -> ConferencePublic:
    return ConferencePublic.model_validate(
        conference, update={"participants": _participants(session, conference)}
    )


def _push_room(ctx: Context, conference_id: uuid.UUID) -> None:
    """Everyone's list of participants, hands and the pointer's holder, as the rows say."""
    with ctx.db.read() as session:
        conference = session.get(Conference, conference_id)
        assert conference is not None
        room = public(session, conference).model_dump(mode="json")
    ctx.hub.publish(conference_id, "room", room)


def _record(ctx: Context, action: str, conference: Conference, detail: str | None = None) -> None:
    done(ctx, f"conference.{action}", "teaching_conference", conference.id, detail=detail)


def start(ctx: Context, collection_id: str, data: ConferenceCreate) -> ConferencePublic:
    require_pathologist(ctx.user, N_("pathologists lead conferences"))
    with ctx.db.write() as session:
        collection = visible_collection(session, ctx.user, collection_id)
        first = session.exec(
            select(TeachingCopy.slide_id)
            .join(TeachingItem, col(TeachingItem.id) == col(TeachingCopy.item_id))
            .where(TeachingItem.collection_id == collection.id)
            .order_by(col(TeachingItem.position), col(TeachingCopy.position))
        ).first()
        conference = Conference(
            collection_id=collection.id,
            teacher_id=ctx.user.id,
            teacher=ctx.user.username,
            presenter=ctx.user.username,
            av_link=data.av_link or collection.av_link,
            slide_id=first,
        )
        session.add(conference)
        session.flush()
        answer = public(session, conference)
    _record(ctx, "start", conference)
    return answer


def live_ones(ctx: Context, collection_id: str) -> list[ConferencePublic]:
    with ctx.db.read() as session:
        collection = visible_collection(session, ctx.user, collection_id)
        rows = session.exec(
            select(Conference)
            .where(Conference.collection_id == collection.id, col(Conference.ended_at).is_(None))
            .order_by(col(Conference.started_at).desc())
        ).all()
        return [public(session, row) for row in rows]


def read(ctx: Context, conference_id: str) -> ConferencePublic:
    with ctx.db.read() as session:
        conference = _conference(session, ctx, conference_id)
        answer = public(session, conference)
    _record(ctx, "read", conference)
    return answer


def open_for_stream(ctx: Context, conference_id: str) -> uuid.UUID:
    with ctx.db.read() as session:
        conference = _conference(session, ctx, conference_id)
    _record(ctx, "follow", conference)
    return conference.id


def join(ctx: Context, conference_id: str) -> ConferencePublic:
    """Join (again: idempotent); the 101st participant is refused (409)."""
    try:
        with ctx.db.write() as session:
            conference = _conference(session, ctx, conference_id)
            if conference.ended_at is not None:
                raise ConflictError(N_("the conference has ended"))
            if session.get(ConferenceParticipant, (conference.id, ctx.user.id)) is None:
                count = session.exec(
                    select(func.count()).where(ConferenceParticipant.conference_id == conference.id)
                ).one()
                if count >= MAX_PARTICIPANTS:
                    raise ConflictError(
                        N_("the conference is full ({count} participants)", count=MAX_PARTICIPANTS)
                    )
                session.add(
                    ConferenceParticipant(
                        conference_id=conference.id, user_id=ctx.user.id, username=ctx.user.username
                    )
                )
    except IntegrityError:  # the same user joining from two tabs at once
        pass
    _record(ctx, "join", conference)
    _push_room(ctx, conference.id)
    return read(ctx, conference_id)


def leave(ctx: Context, conference_id: str) -> None:
    with ctx.db.write() as session:
        conference = _conference(session, ctx, conference_id)
        row = session.get(ConferenceParticipant, (conference.id, ctx.user.id))
        if row is not None:
            session.delete(row)
        if conference.presenter == ctx.user.username:
            conference.presenter = conference.teacher  # the pointer goes back
            session.add(conference)
    _record(ctx, "leave", conference)
    _push_room(ctx, conference.id)


def raise_hand(ctx: Context, conference_id: str, raised: bool) -> None:
    with ctx.db.write() as session:
        conference = _conference(session, ctx, conference_id)
        row = session.get(ConferenceParticipant, (conference.id, ctx.user.id))
        if row is None:
            raise ConflictError(N_("join the conference first"))
        row.hand_raised_at = utcnow() if raised else None
        session.add(row)
    _record(ctx, "hand", conference, "raised" if raised else "lowered")
    _push_room(ctx, conference.id)


def hand_over(ctx: Context, conference_id: str, username: str) -> None:
    """The teacher gives the pointer to a participant, or takes it back (their own name)."""
    with ctx.db.write() as session:
        conference = _conference(session, ctx, conference_id)
        if ctx.user.id != conference.teacher_id:
            raise PermissionDeniedError(N_("the teacher hands over the pointer"))
        if username != conference.teacher:
            row = session.exec(
                select(ConferenceParticipant).where(
                    ConferenceParticipant.conference_id == conference.id,
                    ConferenceParticipant.username == username,
                )
            ).first()
            if row is None:
                raise UnprocessableError(
                    N_("{username} is not in the conference", username=username)
                )
            row.hand_raised_at = None
            session.add(row)
        conference.presenter = username
        session.add(conference)
    _record(ctx, "pointer", conference, username)
    _push_room(ctx, conference.id)


def end(ctx: Context, conference_id: str) -> None:
    with ctx.db.write() as session:
        conference = _conference(session, ctx, conference_id)
        if ctx.user.id != conference.teacher_id:
            raise PermissionDeniedError(N_("the teacher ends the conference"))
        conference.ended_at = conference.ended_at or utcnow()
        session.add(conference)
    _record(ctx, "end", conference)
    with _step_lock:
        _last_step.pop(conference.id, None)
    ctx.hub.publish(conference.id, "ended", {})


def share_view(ctx: Context, conference_id: str, view: ConferenceView) -> None:
    """The presenter's view to every participant, and a step of the walkthrough.

    Not audited per call (several a second, like tiles); following is."""
    with ctx.db.read() as session:
        conference = _conference(session, ctx, conference_id)
        if conference.ended_at is not None:
            raise ConflictError(N_("the conference has ended"))
        if conference.presenter != ctx.user.username:
            raise PermissionDeniedError(
                N_("{presenter} holds the pointer", presenter=conference.presenter)
            )
        on_copy = session.exec(
            select(TeachingCopy)
            .join(TeachingItem, col(TeachingItem.id) == col(TeachingCopy.item_id))
            .where(
                TeachingCopy.slide_id == view.slide,
                TeachingItem.collection_id == conference.collection_id,
            )
        ).first()
    if on_copy is None:
        raise UnprocessableError(N_("that slide is not in the conference's collection"))
    data: dict[str, Any] = {**view.model_dump(mode="json"), "presenter": ctx.user.username}
    ctx.hub.publish(conference.id, "view", data)
    _save_step(ctx, conference, view, data)


def _save_step(
    ctx: Context, conference: Conference, view: ConferenceView, data: dict[str, Any]
) -> None:
    now = time.monotonic()
    with _step_lock:
        if now - _last_step.get(conference.id, 0.0) < STEP_SECONDS:
            return
        _last_step[conference.id] = now
    with ctx.db.write() as session:
        session.add(
            ConferenceStep(
                conference_id=conference.id,
                slide_id=view.slide,
                presenter=ctx.user.username,
                view={k: v for k, v in data.items() if k not in ("slide", "presenter", "client")},
            )
        )
        if conference.slide_id != view.slide:
            row = session.get(Conference, conference.id)
            assert row is not None
            row.slide_id = view.slide
            session.add(row)


def copy_annotations(ctx: Context, conference_id: str, slide_id: str) -> dict[str, Any]:
    """A copy's annotations, for the teacher and the participants of a running conference."""
    with ctx.db.read() as session:
        conference = _conference(session, ctx, conference_id)
        member = session.get(ConferenceParticipant, (conference.id, ctx.user.id))
        if conference.ended_at is not None or (
            member is None and ctx.user.id != conference.teacher_id
        ):
            raise PermissionDeniedError(N_("join the running conference first"))
        try:
            key = uuid.UUID(slide_id)
        except ValueError as error:
            raise NotFoundError(N_("no such slide")) from error
        copy = session.exec(
            select(SlideRecord)
            .join(TeachingCopy, col(TeachingCopy.slide_id) == col(SlideRecord.id))
            .join(TeachingItem, col(TeachingItem.id) == col(TeachingCopy.item_id))
            .where(SlideRecord.id == key, TeachingItem.collection_id == conference.collection_id)
        ).first()
        if copy is None:
            raise NotFoundError(N_("no such slide in the conference's collection"))
        found: dict[str, Any] = json.loads(annotation_service.collection_json(session, copy))
    _record(ctx, "annotations", conference, str(key))
    return found


def walkthrough(ctx: Context, conference_id: str) -> list[StepPublic]:
    with ctx.db.read() as session:
        conference = _conference(session, ctx, conference_id)
        steps = session.exec(
            select(ConferenceStep)
            .where(ConferenceStep.conference_id == conference.id)
            .order_by(col(ConferenceStep.id))
        ).all()
    _record(ctx, "walkthrough", conference, f"{len(steps)} steps")
    return [StepPublic.model_validate(step) for step in steps]
