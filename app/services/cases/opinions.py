"""Second opinions and the case's thread: the reporting pathologist asks a colleague or
a named group (pathologists covering the case's site) with a note; a colleague answers
in the thread; a colleague who agrees with the signed version may co-sign it.

Each is a case action (`service.act`: site rules, role, one conditional UPDATE and
event row, audit, live push), so the question and the answer are in the case's
timeline and reach every worklist at once. An answer is a message, never a report.
"""

from __future__ import annotations

import uuid

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.core.errors import ConflictError, PermissionDeniedError, UnprocessableError
from app.core.i18n import N_
from app.models.accounts import Role, SiteCover, User
from app.models.cases import Case, CaseEvent, Report
from app.models.opinions import (
    CaseMessage,
    Colleague,
    ColleagueGroup,
    ColleaguesPublic,
    CosignRequest,
    MessageCreate,
    MessageKind,
    Opinion,
    OpinionRequest,
    OpinionStatus,
    PathologistGroup,
    PathologistGroupMember,
    ReportCosign,
)
from app.services.audited import visible_case_audited
from app.services.cases.service import act, check_password, transition
from app.services.cases.states import Action
from app.services.context import Context


def _covering(session: Session, case: Case) -> list[User]:
    """Active pathologists who cover the case's site: who may see it, so who may help."""
    return list(
        session.exec(
            select(User)
            .join(SiteCover, col(SiteCover.user_id) == col(User.id))
            .where(
                SiteCover.site_id == case.site_id,
                User.role == Role.pathologist,
                col(User.is_active),
            )
            .order_by(col(User.username))
        ).all()
    )


def _members(session: Session, group: PathologistGroup) -> set[uuid.UUID]:
    return set(
        session.exec(
            select(PathologistGroupMember.user_id).where(
                PathologistGroupMember.group_id == group.id
            )
        ).all()
    )


def colleagues(ctx: Context, case_id: str) -> ColleaguesPublic:
    with ctx.db.read() as session:
        case = visible_case_audited(session, ctx, case_id, "case.colleagues")
        users = [user for user in _covering(session, case) if user.id != ctx.user.id]
        ids = {user.id: user.username for user in users}
        groups = []
        for group in session.exec(select(PathologistGroup).order_by(col(PathologistGroup.name))):
            names = sorted(ids[member] for member in _members(session, group) if member in ids)
            if names:
                groups.append(ColleagueGroup(name=group.name, members=names))
    return ColleaguesPublic(
        users=[Colleague(username=user.username, full_name=user.full_name) for user in users],
        groups=groups,
    )


class _Asking:
    """Whom an opinion goes to, resolved before the write: the one colleague, or the
    group's members who cover the case's site (the asker left out)."""

    def __init__(self, ctx: Context, data: OpinionRequest) -> None:
        self.ctx, self.data = ctx, data
        self.recipients: list[str] = []
        self.asked_of = ""
        self.group_id: uuid.UUID | None = None

    def __call__(self, case: Case) -> None:
        data, me = self.data, self.ctx.user
        if case.claimed_by_id != me.id:
            raise PermissionDeniedError(N_("the reporting pathologist asks for a second opinion"))
        if (data.to_user is None) == (data.to_group is None):
            raise UnprocessableError(N_("ask one colleague (to_user) or one group (to_group)"))
        with self.ctx.db.read() as session:
            covering = {user.id: user for user in _covering(session, case) if user.id != me.id}
            if data.to_user is not None:
                found = [user for user in covering.values() if user.username == data.to_user]
                if not found:
                    raise UnprocessableError(
                        N_(
                            "no colleague {to_user} covers this case's site",
                            to_user=repr(data.to_user),
                        )
                    )
                self.recipients, self.asked_of = [found[0].username], found[0].username
                return
            group = session.exec(
                select(PathologistGroup).where(PathologistGroup.name == data.to_group)
            ).first()
            members = _members(session, group) if group is not None else set()
            names = sorted(covering[key].username for key in members if key in covering)
            if group is None or not names:
                raise UnprocessableError(
                    N_(
                        "no group {to_group} with a colleague covering this case's site",
                        to_group=repr(data.to_group),
                    )
                )
            self.recipients, self.asked_of, self.group_id = names, f"group {group.name}", group.id


def ask(ctx: Context, case_id: str, data: OpinionRequest) -> Case:
    asking = _Asking(ctx, data)

    def change(session: Session, case: Case) -> CaseEvent:
        event = transition(
            session,
            case,
            Action.ask_opinion,
            username=ctx.user.username,
            detail=f"of {asking.asked_of}: {data.note}",
        )
        opinion = Opinion(
            case_id=case.id,
            asked_by_id=ctx.user.id,
            asked_by=ctx.user.username,
            asked_of=asking.asked_of,
            group_id=asking.group_id,
            recipients=asking.recipients,
            note=data.note,
            asked_at=event.at,
        )
        session.add(opinion)
        session.flush()
        session.add(_message(ctx, case, MessageKind.question, data.note, opinion.id, event))
        return event

    return act(ctx, case_id, Action.ask_opinion, change, before=asking)


def _message(
    ctx: Context,
    case: Case,
    kind: MessageKind,
    body: str,
    opinion_id: uuid.UUID | None,
    event: CaseEvent,
) -> CaseMessage:
    return CaseMessage(
        case_id=case.id,
        opinion_id=opinion_id,
        kind=kind,
        author_id=ctx.user.id,
        author=ctx.user.username,
        author_name=ctx.user.full_name,
        body=body,
        at=event.at,
    )


def post_message(ctx: Context, case_id: str, data: MessageCreate) -> Case:
    """A message in the case's thread; from a colleague the opinion was asked of, with
    `opinion` naming it, it is their opinion (the first one answers the request)."""
    kinds: list[MessageKind] = []

    def check(case: Case) -> None:
        kind = MessageKind.note
        if data.opinion is not None:
            with ctx.db.read() as session:
                opinion = session.get(Opinion, data.opinion)
            if opinion is None or opinion.case_id != case.id:
                raise UnprocessableError(N_("no such opinion request on this case"))
            if ctx.user.username in opinion.recipients:
                kind = MessageKind.opinion
        kinds.append(kind)

    def change(session: Session, case: Case) -> CaseEvent:
        kind = kinds[0]
        event = transition(
            session,
            case,
            Action.message,
            username=ctx.user.username,
            detail=f"{kind.value}: {data.body}",
        )
        session.add(_message(ctx, case, kind, data.body, data.opinion, event))
        if kind == MessageKind.opinion:
            session.execute(
                update(Opinion)
                .where(col(Opinion.id) == data.opinion, col(Opinion.status) == OpinionStatus.open)
                .values(
                    status=OpinionStatus.answered,
                    answered_by=ctx.user.username,
                    answered_at=event.at,
                )
            )
        return event

    return act(ctx, case_id, Action.message, change, before=check)


def cosign(ctx: Context, case_id: str, data: CosignRequest) -> Case:
    """A colleague signs beside the reporting pathologist: the version they read must
    still be the current one, and nobody co-signs their own report."""

    def check(case: Case) -> None:
        with ctx.db.read() as session:
            signer = session.exec(
                select(Report.signed_by_id).where(
                    Report.case_id == case.id, Report.version == data.report_version
                )
            ).first()
        if signer == ctx.user.id:
            raise PermissionDeniedError(
                N_("the signing pathologist cannot co-sign their own report")
            )
        check_password(ctx, data.password)

    def change(session: Session, case: Case) -> CaseEvent:
        event = transition(
            session,
            case,
            Action.cosign,
            username=ctx.user.username,
            where=(col(Case.report_version) == data.report_version,),
            detail=f"version {data.report_version}",
            conflict=lambda current: N_(
                "report version {version} was signed after the one you read: read it, then co-sign",
                version=current.report_version,
            ),
        )
        session.add(
            ReportCosign(
                case_id=case.id,
                report_version=data.report_version,
                user_id=ctx.user.id,
                username=ctx.user.username,
                full_name=ctx.user.full_name,
                at=event.at,
            )
        )
        try:
            session.flush()
        except IntegrityError as error:
            raise ConflictError(N_("you have already co-signed this version")) from error
        return event

    return act(ctx, case_id, Action.cosign, change, before=check)


def set_group(session: Session, name: str, usernames: list[str]) -> PathologistGroup:
    """Create the named group of pathologists, or replace its members."""
    if not 0 < len(name) <= 64:
        raise UnprocessableError(N_("a group's name has 1..64 characters"))
    users = session.exec(select(User).where(col(User.username).in_(usernames))).all()
    found = {user.username: user for user in users}
    for username in usernames:
        user = found.get(username)
        if user is None or user.role != Role.pathologist:
            raise UnprocessableError(N_("{username} is not a pathologist", username=repr(username)))
    group = session.exec(select(PathologistGroup).where(PathologistGroup.name == name)).first()
    if group is None:
        group = PathologistGroup(name=name)
        session.add(group)
        session.flush()
    for member in session.exec(
        select(PathologistGroupMember).where(PathologistGroupMember.group_id == group.id)
    ).all():
        session.delete(member)
    session.flush()
    session.add_all(
        [PathologistGroupMember(group_id=group.id, user_id=user.id) for user in found.values()]
    )
    return group
