"""Who may see what: the one place where site-based authorization is decided.

Admins see every site, pathologists the sites they cover, surgeons and
technicians their own site, trainees none. De-identified teaching copies belong to
no site: their collection decides, and every teaching role (admins, pathologists,
trainees) reads every collection, across sites. Every slide query goes through `scope_slides` (every
case query through `scope_cases`), so a slide or case of a site you may not see
does not exist for you: a 404, never a 403.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal, TypeVar

from sqlalchemy import ColumnElement, false, or_, true
from sqlmodel import Session, col, select

from app.core.errors import PermissionDeniedError, UnprocessableError
from app.core.i18n import N_
from app.models.accounts import Role, Site, SiteCover, User
from app.models.cases import Case
from app.models.slides import SlideRecord
from app.models.teaching import TeachingCopy
from tiler import NotFoundError

#: Roles that read teaching collections and their copies (pathologists also make them).
TEACHING_ROLES = frozenset({Role.admin, Role.pathologist, Role.trainee})

#: Associated images that may show patient identity (labels are handwritten or printed).
IDENTIFYING_IMAGES = frozenset({"label", "macro"})


def site_filter(user: User, site_column: Any) -> ColumnElement[bool]:
    """A WHERE clause on `site_column` that keeps only the sites `user` may see."""
    if user.role == Role.admin:
        return true()
    if user.role == Role.pathologist:
        covered = select(SiteCover.site_id).where(SiteCover.user_id == user.id)
        return col(site_column).in_(covered)
    if user.site_id is None or user.role == Role.trainee:
        return false()
    return col(site_column) == user.site_id


SiteOwned = TypeVar("SiteOwned", SlideRecord, Case)


def scope(user: User, model: type[SiteOwned]) -> Any:
    """SELECT of the rows of `model` that `user` may see; add filters and ordering to it."""
    rule = site_filter(user, model.site_id)
    if model is SlideRecord and user.role in TEACHING_ROLES:
        rule = or_(rule, col(SlideRecord.id).in_(select(TeachingCopy.slide_id)))
    return select(model).where(rule)


def scope_slides(user: User) -> Any:
    return scope(user, SlideRecord)


def scope_cases(user: User) -> Any:
    return scope(user, Case)


#: What `visible` looks up (the audit's object type too).
Noun = Literal["slide", "case"]
#: Its refusal, one whole sentence per noun, so each is translated whole.
_NO_SUCH: dict[str, str] = {"slide": N_("no such slide"), "case": N_("no such case")}


def visible(
    session: Session, user: User, model: type[SiteOwned], object_id: uuid.UUID | str, noun: Noun
) -> SiteOwned:
    """The row, if `user` may see it; NotFoundError otherwise, as for an unknown id."""
    try:
        key = object_id if isinstance(object_id, uuid.UUID) else uuid.UUID(object_id)
    except ValueError as error:
        raise NotFoundError(_NO_SUCH[noun]) from error
    found = session.exec(scope(user, model).where(model.id == key)).first()
    if found is None:
        raise NotFoundError(_NO_SUCH[noun])
    assert isinstance(found, model)
    return found


def visible_slide(session: Session, user: User, slide_id: uuid.UUID | str) -> SlideRecord:
    return visible(session, user, SlideRecord, slide_id, "slide")


def visible_case(session: Session, user: User, case_id: uuid.UUID | str) -> Case:
    return visible(session, user, Case, case_id, "case")


def may_see_site(session: Session, user: User, site_id: uuid.UUID) -> bool:
    if user.role == Role.admin:
        return True
    if user.role == Role.pathologist:
        return session.get(SiteCover, (user.id, site_id)) is not None
    return user.site_id == site_id


def check_may_add_slides(user: User) -> None:
    """Technicians and pathologists add slides (form post, tus, progressive); surgeons
    read them. (Admins may, to register a site's archive from the command line.)"""
    if user.role in (Role.surgeon, Role.trainee):
        raise PermissionDeniedError(
            N_("surgeons read slides; technicians and pathologists add them")
            if user.role == Role.surgeon
            else N_("trainees read teaching copies; technicians and pathologists add slides")
        )


def check_may_attach(user: User) -> None:
    """A case's photographs and documents come from its site's technicians and surgeons
    (the surgeon photographs the inked specimen) and its pathologists; admins run the
    service and trainees read teaching copies."""
    if user.role not in (Role.technician, Role.surgeon, Role.pathologist):
        raise PermissionDeniedError(
            N_("technicians, surgeons and pathologists of the case add its attachments")
        )


def check_may_calibrate(user: User) -> None:
    """A calibration is a reading of the glass under the site's own microscope (a stage
    micrometer): its technicians and the pathologists who cover it set it; surgeons read
    slides and admins run the service."""
    if user.role not in (Role.technician, Role.pathologist):
        raise PermissionDeniedError(N_("technicians and pathologists of the site calibrate slides"))


def may_view_identifying_image(user: User, name: str) -> bool:
    """Label and macro images show patient names: clinicians of the case only.

    Pathologists (who can see the slide only for sites they cover) and the slide's
    own site staff may; admins, who see every site to run the service, may not.
    """
    return name not in IDENTIFYING_IMAGES or user.role != Role.admin


def target_site(session: Session, user: User, code: str | None, field: str) -> Site:
    """The site a new slide, upload or case goes to: the one named by `code` if `user`
    may see it, else the user's own. Another site's code is answered as an unknown one,
    so the codes of other sites stay private. `field` says where the code is given."""
    if code:
        site = session.exec(select(Site).where(Site.code == code[:32])).first()
        if site is None or not may_see_site(session, user, site.id):
            raise UnprocessableError(N_("no site {code}", code=repr(code[:32])))
        return site
    own = session.get(Site, user.site_id) if user.site_id else None
    if own is None:
        raise UnprocessableError(N_("give the site code in {field}", field=field))
    return own
