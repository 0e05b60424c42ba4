"""Who may see what: the one place where site-based authorization is decided.

Admins see every site, pathologists the sites they cover, surgeons and
technicians their own site. Every slide query goes through `scope_slides` (every
case query through `scope_cases`), so a slide or case of a site you may not see
does not exist for you: a 404, never a 403.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, false, true
from sqlmodel import Session, col, select

from app.cases.models import Case
from app.models import Role, SiteCover, Slide, User
from tiler import NotFoundError

#: Associated images that may show patient identity (labels are handwritten or printed).
IDENTIFYING_IMAGES = frozenset({"label", "macro"})


def site_filter(user: User, site_column: Any) -> ColumnElement[bool]:
    """A WHERE clause on `site_column` that keeps only the sites `user` may see."""
    if user.role == Role.admin:
        return true()
    if user.role == Role.pathologist:
        covered = select(SiteCover.site_id).where(SiteCover.user_id == user.id)
        return col(site_column).in_(covered)
    if user.site_id is None:
        return false()
    return col(site_column) == user.site_id


def scope_slides(user: User) -> Any:
    """SELECT of the slides `user` may see; add filters and ordering to it."""
    return select(Slide).where(site_filter(user, Slide.site_id))


def visible_slide(session: Session, user: User, slide_id: uuid.UUID | str) -> Slide:
    """The slide, if `user` may see it; NotFoundError otherwise, as for an unknown id."""
    try:
        key = slide_id if isinstance(slide_id, uuid.UUID) else uuid.UUID(slide_id)
    except ValueError as error:
        raise NotFoundError("no such slide") from error
    slide = session.exec(scope_slides(user).where(Slide.id == key)).first()
    if slide is None:
        raise NotFoundError("no such slide")
    assert isinstance(slide, Slide)
    return slide


def scope_cases(user: User) -> Any:
    """SELECT of the cases `user` may see: the same site rule as for slides."""
    return select(Case).where(site_filter(user, Case.site_id))


def visible_case(session: Session, user: User, case_id: uuid.UUID | str) -> Case:
    """The case, if `user` may see it; NotFoundError otherwise, as for an unknown id."""
    try:
        key = case_id if isinstance(case_id, uuid.UUID) else uuid.UUID(case_id)
    except ValueError as error:
        raise NotFoundError("no such case") from error
    case = session.exec(scope_cases(user).where(Case.id == key)).first()
    if case is None:
        raise NotFoundError("no such case")
    assert isinstance(case, Case)
    return case


def may_see_site(session: Session, user: User, site_id: uuid.UUID) -> bool:
    if user.role == Role.admin:
        return True
    if user.role == Role.pathologist:
        return session.get(SiteCover, (user.id, site_id)) is not None
    return user.site_id == site_id


def may_view_identifying_image(user: User, name: str) -> bool:
    """Label and macro images show patient names: clinicians of the case only.

    Pathologists (who can see the slide only for sites they cover) and the slide's
    own site staff may; admins, who see every site to run the service, may not.
    """
    return name not in IDENTIFYING_IMAGES or user.role != Role.admin
