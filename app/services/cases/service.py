"""The case actions. Each is: find the case the user may see, check the role, apply one
conditional UPDATE plus its event row in one write transaction, audit the outcome
(denied and refused attempts too), then push the new snapshot to the live streams.

Nothing here trusts a status read earlier: the UPDATE's WHERE clause re-checks it,
so the database settles races (two claims, a report against a cancel).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, literal, update
from sqlalchemy import case as sql_case
from sqlalchemy import func as sql_func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.core import audit
from app.core.access import scope_cases, target_site, visible_case, visible_slide
from app.core.audit import Actor
from app.core.db import Database
from app.core.errors import ConflictError, PermissionDeniedError
from app.core.i18n import N_
from app.core.security import verify_password
from app.models.accounts import Role, Site, User
from app.models.audit import Outcome
from app.models.cases import (
    Acknowledgement,
    AcknowledgeRequest,
    AmendCreate,
    CancelRequest,
    Case,
    CaseCreate,
    CaseEvent,
    CaseList,
    CasePriority,
    CasePublic,
    CaseSlide,
    CaseStatus,
    CaseType,
    CaseUpdate,
    Report,
    ReportCreate,
    SlideState,
)
from app.models.jobs import URGENT_PRIORITY, Job, JobState
from app.models.slides import SlideRecord
from app.models.types import UTCDateTime, utcnow
from app.services.audited import visible_case_audited
from app.services.cases.states import RULES, Action, refusal
from app.services.context import Context
from app.services.live import LiveHub
from app.services.reports.regions import Camera, Picture, capture
from tiler import NotFoundError, SlideBridgeError

from . import views

_STAFF = frozenset({Role.technician, Role.surgeon, Role.admin})
ROLES: dict[Action, frozenset[Role]] = {
    Action.update: _STAFF,
    Action.cancel: frozenset(Role),
    Action.attach: frozenset({Role.technician, Role.pathologist, Role.admin}),
    Action.claim: frozenset({Role.pathologist}),
    Action.view: frozenset({Role.pathologist}),
    Action.report: frozenset({Role.pathologist}),
    Action.amend: frozenset({Role.pathologist}),
    Action.acknowledge: frozenset({Role.surgeon}),
    Action.ask_opinion: frozenset({Role.pathologist}),
    Action.message: frozenset({Role.pathologist}),
    Action.cosign: frozenset({Role.pathologist}),
}
_ROLE_WORDS: dict[Action, str] = {
    Action.update: N_("the requesting site corrects a request"),
    Action.attach: N_("technicians and pathologists add slides"),
    Action.claim: N_("pathologists claim cases"),
    Action.view: N_("pathologists review cases"),
    Action.report: N_("pathologists sign reports"),
    Action.amend: N_("pathologists amend reports"),
    Action.acknowledge: N_("the site's surgeon acknowledges a result"),
    Action.ask_opinion: N_("pathologists ask colleagues for an opinion"),
    Action.message: N_("pathologists discuss a case in its thread"),
    Action.cosign: N_("pathologists co-sign reports"),
}


def outcome_of(error: SlideBridgeError) -> Outcome:
    """How a refusal is audited: unknown, not allowed, or refused for another reason."""
    if isinstance(error, NotFoundError):
        return Outcome.not_found
    if isinstance(error, PermissionDeniedError):
        return Outcome.denied
    return Outcome.failure


def _record(
    ctx: Context, action: str, outcome: Outcome, case: Case | None, detail: str | None = None
) -> None:
    audit.record(
        ctx.db,
        ctx.actor,
        f"case.{action}",
        outcome,
        object_type="case",
        object_id=case.id if case else None,
        site_id=case.site_id if case else None,
        detail=detail,
    )


#: Publishes of one case are read and sent one at a time (a lock per case id's stripe):
#: the ingest loop moving a case on and a range crossing a percent both send a snapshot,
#: and one read earlier but sent later would take the screens' "arriving 37 %" back to 36.
_PUBLISHING = [threading.Lock() for _ in range(64)]


def publish(db: Database, hub: LiveHub, case_id: uuid.UUID, event_id: int | None) -> None:
    """Push the case as it is now to its own stream and its site's stream, in the order
    the snapshots were read (within this process; the screens keep the newest version)."""
    with _PUBLISHING[case_id.int % len(_PUBLISHING)]:
        with db.read() as session:
            public = views.snapshot(session, case_id)
        if public is None:
            return
        data = {"case": public.model_dump(mode="json")}
        site_id = _site_id(db, case_id)
        hub.publish(case_id, "case", data, event_id=event_id)
        hub.publish(site_id, "case", data, event_id=event_id)


def _site_id(db: Database, case_id: uuid.UUID) -> uuid.UUID:
    with db.read() as session:
        return session.exec(select(Case.site_id).where(Case.id == case_id)).one()


def transition(
    session: Session,
    case: Case,
    action: Action,
    *,
    username: str | None,
    where: tuple[ColumnElement[bool], ...] = (),
    values: dict[str, Any] | None = None,
    detail: str | None = None,
    conflict: Callable[[Case], str] | None = None,
) -> CaseEvent:
    """Apply `action` to the case if its status (and `where`) still allow it; 409 otherwise.

    `conflict` words the refusal when the status allowed it but `where` did not
    (e.g. claimed by someone else)."""
    rule = RULES[action]
    now = utcnow()
    changes: dict[str, Any] = {"version": col(Case.version) + 1, "updated_at": now}
    if rule.target is not None:
        changes["status"] = rule.target
    changes.update(values or {})
    result = session.exec(
        update(Case)
        .where(col(Case.id) == case.id, col(Case.status).in_(rule.sources), *where)
        .values(**changes)
    )
    current = session.get(Case, case.id, populate_existing=True)
    assert current is not None
    if result.rowcount != 1:
        if current.status in rule.sources and conflict is not None:
            raise ConflictError(conflict(current))
        raise ConflictError(refusal(action, current.status))
    event = CaseEvent(
        case_id=case.id,
        site_id=case.site_id,
        kind=action.value,
        status=current.status,
        username=username,
        detail=detail[:500] if detail else None,
        at=now,
    )
    session.add(event)
    session.flush()
    return event


def first_time(column: Any, now: Any) -> Any:
    """SET column = COALESCE(column, now): a timestamp of the first time only."""
    return sql_func.coalesce(col(column), literal(now, UTCDateTime()))


def act(
    ctx: Context,
    case_id: uuid.UUID | str,
    action: Action,
    change: Callable[[Session, Case], CaseEvent],
    *,
    before: Callable[[Case], None] | None = None,
) -> Case:
    """The common frame of every action on an existing case (see the module docstring)."""
    name = action.value
    with ctx.db.read() as session:
        try:
            case = visible_case(session, ctx.user, case_id)
        except NotFoundError:
            _record(ctx, name, Outcome.not_found, None, detail=str(case_id)[:64])
            raise
    try:
        if ctx.user.role not in ROLES[action]:
            raise PermissionDeniedError(_ROLE_WORDS.get(action, N_("not allowed for your role")))
        if before is not None:
            before(case)
        with ctx.db.write() as session:
            event = change(session, case)
            event_id = event.id
    except SlideBridgeError as error:
        _record(ctx, name, outcome_of(error), case, error.reason)
        raise
    _record(ctx, name, Outcome.success, case, event.detail)
    publish(ctx.db, ctx.hub, case.id, event_id)
    with ctx.db.read() as session:
        fresh = session.get(Case, case.id)
    assert fresh is not None
    return fresh


# --- creating and correcting a request --------------------------------------------------


def _request_site(session: Session, user: User, code: str | None) -> Site:
    if user.role not in (Role.technician, Role.surgeon, Role.admin):
        raise PermissionDeniedError(N_("the operating room's site requests cases"))
    return target_site(session, user, code, "'site'")


def create(ctx: Context, data: CaseCreate) -> Case:
    try:
        with ctx.db.read() as session:
            site = _request_site(session, ctx.user, data.site)
    except SlideBridgeError as error:
        _record(ctx, "create", outcome_of(error), None, error.reason)
        raise
    urgent = data.type == CaseType.frozen_section or data.priority == CasePriority.urgent
    case = Case.model_validate(
        data.model_dump(exclude={"site", "priority"}),
        update={
            "site_id": site.id,
            "priority": CasePriority.urgent if urgent else CasePriority.routine,
            "requested_by": ctx.user.username,
        },
    )
    with ctx.db.write() as session:
        session.add(case)
        session.flush()
        event = CaseEvent(
            case_id=case.id,
            site_id=site.id,
            kind="requested",
            status=case.status,
            username=ctx.user.username,
            at=case.requested_at,
        )
        session.add(event)
        session.flush()
        event_id = event.id
    _record(ctx, "create", Outcome.success, case, f"{case.type.value} {case.priority.value}")
    publish(ctx.db, ctx.hub, case.id, event_id)
    return case


def update_request(ctx: Context, case_id: str, data: CaseUpdate) -> Case:
    def change(session: Session, case: Case) -> CaseEvent:
        values = data.model_dump(exclude_unset=True)
        if case.type == CaseType.frozen_section:
            values.pop("priority", None)  # a frozen section is urgent, whatever is asked
        return transition(
            session,
            case,
            Action.update,
            username=ctx.user.username,
            values=values,
            detail=", ".join(sorted(values)) or "nothing",
        )

    return act(ctx, case_id, Action.update, change)


# --- the pathologist ---------------------------------------------------------------------


def claim(ctx: Context, case_id: str) -> Case:
    now = utcnow()

    def change(session: Session, case: Case) -> CaseEvent:
        return transition(
            session,
            case,
            Action.claim,
            username=ctx.user.username,
            where=(col(Case.claimed_by_id).is_(None),),
            values={
                "claimed_by_id": ctx.user.id,
                "claimed_by": ctx.user.username,
                "claimed_at": now,
            },
        )

    return act(ctx, case_id, Action.claim, change)


def _claimed_by_me(user: User) -> tuple[ColumnElement[bool], ...]:
    return (col(Case.claimed_by_id) == user.id,)


def _claimed_by_other(case: Case) -> str:
    return N_("the case is claimed by {name}", name=case.claimed_by)


def mark_viewed(ctx: Context, case_id: str) -> Case:
    """The claiming pathologist opened the slides: the first time is the `first viewed` time."""

    def change(session: Session, case: Case) -> CaseEvent:
        return transition(
            session,
            case,
            Action.view,
            username=ctx.user.username,
            where=_claimed_by_me(ctx.user),
            values={"first_viewed_at": first_time(Case.first_viewed_at, utcnow())},
            conflict=_claimed_by_other,
        )

    return act(ctx, case_id, Action.view, change)


def check_password(ctx: Context, password: str) -> None:
    # argon2 is slow on purpose: verified before, not inside, the write transaction.
    if not verify_password(password, ctx.user.password_hash):
        raise PermissionDeniedError(N_("the password is not right: nothing was signed"))


def _add_report(
    session: Session,
    ctx: Context,
    case: Case,
    data: ReportCreate,
    reason: str | None,
    pictures: list[Picture],
) -> Report:
    version = session.exec(select(Case.report_version).where(Case.id == case.id)).one()
    report = Report(
        case_id=case.id,
        version=version,
        category=data.category,
        diagnosis=data.diagnosis,
        margins=data.margins or None,
        comment=data.comment or None,
        transfer=data.transfer,
        transfer_note=(data.transfer_note or None) if data.transfer else None,
        reason=reason,
        signed_by_id=ctx.user.id,
        signed_by=ctx.user.username,
        signed_by_name=ctx.user.full_name,
    )
    session.add(report)
    session.add_all(
        [picture.row(case.id, version, index + 1) for index, picture in enumerate(pictures)]
    )
    session.flush()
    return report


class _Signing:
    """Before a version is signed (outside the write transaction: both are slow): the
    password, then the pictures of the regions marked "include in report"."""

    def __init__(self, ctx: Context, camera: Camera, password: str) -> None:
        self.ctx, self.camera, self.password = ctx, camera, password
        self.pictures: list[Picture] = []
        self.left_out = 0

    def __call__(self, case: Case) -> None:
        check_password(self.ctx, self.password)
        self.pictures, self.left_out = capture(self.ctx.db, self.camera, case.id)

    def detail(self, head: str) -> str:
        if not self.pictures and not self.left_out:
            return head
        more = f", {self.left_out} not pictured" if self.left_out else ""
        return f"{head} ({len(self.pictures)} region(s) pictured{more})"


def _summary(data: ReportCreate) -> str:
    return data.category.value + (", transfer to the hub recommended" if data.transfer else "")


def sign_report(ctx: Context, case_id: str, data: ReportCreate, camera: Camera) -> Case:
    signing = _Signing(ctx, camera, data.password)

    def change(session: Session, case: Case) -> CaseEvent:
        now = utcnow()
        event = transition(
            session,
            case,
            Action.report,
            username=ctx.user.username,
            where=_claimed_by_me(ctx.user),
            values={"reported_at": now, "report_version": 1},
            detail=signing.detail(_summary(data)),
            conflict=_claimed_by_other,
        )
        _add_report(session, ctx, case, data, None, signing.pictures)
        return event

    return act(ctx, case_id, Action.report, change, before=signing)


def amend(ctx: Context, case_id: str, data: AmendCreate, camera: Camera) -> Case:
    """A new signed version with its reason; the old ones stay, and the surgeon must
    acknowledge again."""
    signing = _Signing(ctx, camera, data.password)

    def change(session: Session, case: Case) -> CaseEvent:
        event = transition(
            session,
            case,
            Action.amend,
            username=ctx.user.username,
            values={"amended_at": utcnow(), "report_version": col(Case.report_version) + 1},
            detail=signing.detail(f"{_summary(data)}: {data.reason}"),
        )
        _add_report(session, ctx, case, data, data.reason, signing.pictures)
        return event

    return act(ctx, case_id, Action.amend, change, before=signing)


# --- the operating room ------------------------------------------------------------------


def acknowledge(ctx: Context, case_id: str, data: AcknowledgeRequest) -> Case:
    def stale(case: Case) -> str:
        return N_(
            "report version {version} was signed after the one you saw: read it, then acknowledge",
            version=case.report_version,
        )

    def change(session: Session, case: Case) -> CaseEvent:
        where: tuple[ColumnElement[bool], ...] = ()
        if data.report_version is not None:
            where = (col(Case.report_version) == data.report_version,)
        event = transition(
            session,
            case,
            Action.acknowledge,
            username=ctx.user.username,
            where=where,
            values={
                "acknowledged_at": utcnow(),
                "acknowledged_by": ctx.user.username,
                "acknowledged_version": col(Case.report_version),
            },
            detail=data.read_back,
            conflict=stale,
        )
        version = session.exec(select(Case.report_version).where(Case.id == case.id)).one()
        session.add(
            Acknowledgement(
                case_id=case.id,
                report_version=version,
                user_id=ctx.user.id,
                username=ctx.user.username,
                full_name=ctx.user.full_name,
                read_back=data.read_back,
                at=event.at,
            )
        )
        return event

    return act(ctx, case_id, Action.acknowledge, change)


def cancel(ctx: Context, case_id: str, data: CancelRequest) -> Case:
    def change(session: Session, case: Case) -> CaseEvent:
        return transition(
            session,
            case,
            Action.cancel,
            username=ctx.user.username,
            values={
                "cancelled_at": utcnow(),
                "cancelled_by": ctx.user.username,
                "cancel_reason": data.reason,
            },
            detail=data.reason,
        )

    return act(ctx, case_id, Action.cancel, change)


# --- slides ------------------------------------------------------------------------------


def link_slide(session: Session, case: Case, slide: SlideRecord, username: str | None) -> CaseEvent:
    """Attach a slide of the case's own site, and give its queued pyramid job the case's
    priority. Raises ConflictError for another site's slide or a slide of another case."""
    if slide.site_id != case.site_id:
        raise ConflictError(N_("the slide belongs to another site than the case"))
    owner = session.get(CaseSlide, slide.id)
    if owner is not None and owner.case_id != case.id:
        raise ConflictError(N_("the slide is already attached to another case"))
    event = transition(
        session,
        case,
        Action.attach,
        username=username,
        detail=f"slide {slide.id}",
    )
    if owner is None:
        session.add(CaseSlide(case_id=case.id, slide_id=slide.id, attached_by=username))
    priority = URGENT_PRIORITY if case.priority == CasePriority.urgent else 0
    session.execute(
        update(Job)
        .where(col(Job.slide_id) == slide.id, col(Job.state) == JobState.queued)
        .values(priority=priority)
    )
    session.flush()
    return event


def attach(ctx: Context, case_id: str, slide_id: uuid.UUID) -> Case:
    """`POST /api/cases/{id}/slides`: a slide registered by `POST /api/slides` joins the case."""

    def change(session: Session, case: Case) -> CaseEvent:
        try:
            slide = visible_slide(session, ctx.user, slide_id)
        except NotFoundError:
            # Another site's slide: the user cannot see it, so it does not exist for them.
            raise ConflictError(N_("no such slide at the case's site")) from None
        try:
            return link_slide(session, case, slide, ctx.user.username)
        except IntegrityError as error:  # the same slide attached concurrently
            raise ConflictError(N_("the slide is already attached to a case")) from error

    case = act(ctx, case_id, Action.attach, change)
    advance(ctx.db, ctx.hub, case.id)
    with ctx.db.read() as session:
        fresh = session.get(Case, case.id)
    assert fresh is not None
    return fresh


#: Who the slide-driven transitions are recorded as: the server, not a person.
SYSTEM = Actor(None, "system:ingest", None)


def advance(db: Database, hub: LiveHub, case_id: uuid.UUID) -> list[CaseEvent]:
    """Move a waiting case on as its slides arrive: `slides_uploading` once the first slide
    is received (an upload into the case began, or a slide was attached), `ready` once no
    upload is still receiving, every progressive slide's overview is in, and at least
    one attached slide is viewable.

    A registered slide is viewable at once (tiles are made on the fly while its pyramid
    is built), so `ready` does not wait for the pyramid job."""
    with db.read() as session:
        case = session.get(Case, case_id)
        if case is None or not _due(case, views.snapshots(session, [case])[0].slide_state):
            return []  # the common answer of the ingest loop's polls: no write transaction
    events: list[CaseEvent] = []
    try:
        with db.write() as session:
            case = session.get(Case, case_id)
            assert case is not None
            state = views.snapshots(session, [case])[0].slide_state
            now = utcnow()
            if case.status == CaseStatus.requested and (state.uploading or state.attached):
                events.append(
                    transition(
                        session,
                        case,
                        Action.slide_received,
                        username=None,
                        values={"first_slide_at": first_time(Case.first_slide_at, now)},
                    )
                )
            if _all_in(state):
                events.append(
                    transition(
                        session,
                        case,
                        Action.slides_ready,
                        username=None,
                        values={"slides_ready_at": now},
                        detail=f"{state.viewable} slide(s)",
                    )
                )
    except ConflictError:
        return []  # another process moved it first (several web processes): nothing lost
    for event in events:
        audit.record(
            db, SYSTEM, f"case.{event.kind}", Outcome.success, object_type="case",
            object_id=case_id, site_id=event.site_id, detail=event.detail,
        )  # fmt: skip
    if events:
        publish(db, hub, case_id, events[-1].id)
    return events


def _due(case: Case, state: SlideState) -> bool:
    if case.status == CaseStatus.requested:
        return bool(state.uploading or state.attached)
    if case.status == CaseStatus.slides_uploading:
        return _all_in(state)
    return False


def _all_in(state: SlideState) -> bool:
    """Ready for the pathologist: no upload still receiving, every arriving slide's overview
    in (the rest sharpens while they look), and something to look at."""
    return state.uploading == 0 and state.overview_pending == 0 and state.viewable > 0


# --- reading -----------------------------------------------------------------------------


def list_visible(
    ctx: Context,
    statuses: list[CaseStatus] | None,
    site: str | None,
    type: CaseType | None,
    offset: int,
    limit: int,
) -> CaseList:
    """Urgent first, then the oldest request first: the order a worklist is worked in."""
    query = scope_cases(ctx.user)
    if statuses:
        query = query.where(col(Case.status).in_(statuses))
    if type is not None:
        query = query.where(Case.type == type)
    if site is not None:
        query = query.join(Site, col(Site.id) == col(Case.site_id)).where(Site.code == site)
    urgent_first = sql_case((col(Case.priority) == CasePriority.urgent, 0), else_=1)
    with ctx.db.read() as session:
        total = session.exec(select(sql_func.count()).select_from(query.subquery())).one()
        rows = session.exec(
            query.order_by(urgent_first, col(Case.requested_at), col(Case.id))
            .offset(offset)
            .limit(limit)
        ).all()
        items = views.snapshots(session, list(rows))
    detail = f"{len(items)} of {total}" + (f" at {site}" if site else "")
    audit.record(ctx.db, ctx.actor, "case.list", Outcome.success, object_type="case", detail=detail)
    return CaseList(items=items, total=total)


def read(ctx: Context, case_id: str) -> CasePublic:
    with ctx.db.read() as session:
        case = visible_case_audited(session, ctx, case_id, "case.read")
        return views.snapshots(session, [case])[0]
