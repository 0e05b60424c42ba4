"""Turnaround of frozen sections, per site and period: what the 20-minute goal is judged by.

Definitions (the turnaround page prints them too):
- counted: frozen-section cases requested in the period, cancelled ones left out;
- request → report: from the request to the FIRST signed report (the answer the
  surgeon waited for; later amendments do not move it);
- slides-ready → report: from the moment the case's slides were viewable;
- percentiles interpolate linearly between ranks (numpy's default), over reported cases;
- within 20 min: reported within 20 minutes of the request, over the cases that are
  reported or already older than 20 minutes unreported (a case still open at minute
  25 counts against the goal; one opened a minute ago does not count yet);
- deferral rate: first reports "deferred to permanent sections", over reported cases.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlmodel import Session, SQLModel, col, select

from app.models.cases import Case, CaseStatus, CaseType, Category, Report
from app.models.types import utcnow
from app.services.cases.views import minutes

GOAL_MINUTES = 20.0


class Period(StrEnum):
    day = "day"
    week = "week"
    month = "month"
    all = "all"


class TurnaroundRow(SQLModel):
    site: str
    period_start: date | None
    frozen_sections: int
    reported: int
    open: int
    median_request_to_report: float | None
    p90_request_to_report: float | None
    median_ready_to_report: float | None
    p90_ready_to_report: float | None
    within_goal: int
    within_goal_share: float | None
    deferred: int
    deferral_rate: float | None


class Turnaround(SQLModel):
    period: Period
    start: date
    end: date
    goal_minutes: float
    rows: list[TurnaroundRow]


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * fraction
    low, high = math.floor(rank), math.ceil(rank)
    value = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    return round(value, 2)


def bucket(moment: datetime, period: Period) -> date | None:
    day = moment.astimezone(UTC).date()
    if period == Period.day:
        return day
    if period == Period.week:
        return day - timedelta(days=day.weekday())
    if period == Period.month:
        return day.replace(day=1)
    return None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def row(
    site: str, start: date | None, cases: list[Case], first: dict[uuid.UUID, Report]
) -> TurnaroundRow:
    now = utcnow()
    reported = [case for case in cases if case.reported_at is not None]
    to_report = [minutes(c.requested_at, c.reported_at) for c in reported if c.reported_at]
    from_ready = [
        minutes(c.slides_ready_at, c.reported_at)
        for c in reported
        if c.reported_at and c.slides_ready_at
    ]
    within = sum(1 for value in to_report if value <= GOAL_MINUTES)
    overdue = sum(
        1
        for case in cases
        if case.reported_at is None and minutes(case.requested_at, now) > GOAL_MINUTES
    )
    deferred = sum(
        1 for case in reported if case.id in first and first[case.id].category == Category.deferred
    )
    return TurnaroundRow(
        site=site,
        period_start=start,
        frozen_sections=len(cases),
        reported=len(reported),
        open=len(cases) - len(reported),
        median_request_to_report=percentile(to_report, 0.5),
        p90_request_to_report=percentile(to_report, 0.9),
        median_ready_to_report=percentile(from_ready, 0.5),
        p90_ready_to_report=percentile(from_ready, 0.9),
        within_goal=within,
        within_goal_share=_share(within, len(reported) + overdue),
        deferred=deferred,
        deferral_rate=_share(deferred, len(reported)),
    )


def turnaround(
    session: Session,
    scoped: Any,
    codes: dict[uuid.UUID, str],
    period: Period,
    start: date,
    end: date,
) -> Turnaround:
    """`scoped` is the SELECT of the cases the user may see (`scope_cases`)."""
    since = datetime.combine(start, time.min, UTC)
    until = datetime.combine(end + timedelta(days=1), time.min, UTC)
    cases: list[Case] = list(
        session.exec(
            scoped.where(
                Case.type == CaseType.frozen_section,
                Case.status != CaseStatus.cancelled,
                col(Case.requested_at) >= since,
                col(Case.requested_at) < until,
            )
        ).all()
    )
    first: dict[uuid.UUID, Report] = {
        report.case_id: report
        for report in session.exec(
            select(Report).where(
                col(Report.case_id).in_([case.id for case in cases]), Report.version == 1
            )
        ).all()
    }
    groups: dict[tuple[str, date | None], list[Case]] = defaultdict(list)
    for case in cases:
        groups[(codes[case.site_id], bucket(case.requested_at, period))].append(case)
    rows = [
        row(site, period_start, members, first)
        for (site, period_start), members in sorted(
            groups.items(), key=lambda item: (item[0][0], item[0][1] or date.min)
        )
    ]
    return Turnaround(period=period, start=start, end=end, goal_minutes=GOAL_MINUTES, rows=rows)
