"""`GET /api/metrics/turnaround`: frozen-section turnaround per site and period.

Only the sites the user may see; the figures are aggregates without patient data,
but reading them is audited like any other read.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import col, select

from app.api.deps import ActorDep, CurrentUser, DatabaseDep, SessionDep
from app.core import audit
from app.core.access import scope_cases
from app.models.accounts import Site
from app.models.audit import Outcome
from app.models.cases import Case
from app.models.types import utcnow
from app.services.cases.metrics import Period, Turnaround, turnaround

router = APIRouter(prefix="/api/metrics", tags=["metrics"])


@router.get("/turnaround")
def turnaround_metrics(
    user: CurrentUser,
    actor: ActorDep,
    session: SessionDep,
    db: DatabaseDep,
    site: Annotated[str | None, Query(max_length=32, description="site code")] = None,
    period: Period = Period.week,
    start: Annotated[date | None, Query(description="first day (UTC); default 90 days ago")] = None,
    end: Annotated[
        date | None, Query(description="last day (UTC), included; default today")
    ] = None,
) -> Turnaround:
    last = end or utcnow().date()
    first = start or last - timedelta(days=90)
    scoped = scope_cases(user)
    if site is not None:
        scoped = scoped.join(Site, col(Site.id) == col(Case.site_id)).where(Site.code == site)
    codes = dict(session.exec(select(Site.id, Site.code)).all())
    result = turnaround(session, scoped, codes, period, first, last)
    audit.record(
        db, actor, "metrics.turnaround", Outcome.success,
        detail=f"{period.value} {first}..{last}" + (f" at {site}" if site else ""),
    )  # fmt: skip
    return result
