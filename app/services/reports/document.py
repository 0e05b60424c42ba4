"""One signed report version with everything its documents print, read under the site
rules and audited (another site's case, or a version that does not exist, is a 404).

A document is versioned with the report: `version` None means the current one;
each amendment is a new version with its own document, and earlier versions stay
readable (marked superseded). The ETag names the case, the version and the language.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from app.core.i18n import N_, SOURCE_LANGUAGE
from app.models.accounts import Site
from app.models.cases import Case, Report, ReportRegion
from app.models.opinions import ReportCosign
from app.services.audited import visible_audited
from app.services.context import Context
from tiler import NotFoundError


@dataclass(frozen=True)
class ReportDocument:
    hub_name: str
    case: Case
    site: Site
    report: Report
    #: Every signed version up to and including this one, oldest first.
    versions: list[Report]
    regions: list[ReportRegion]
    #: Colleagues who co-signed this version (a second opinion is not a signature).
    cosigns: list[ReportCosign]
    #: The case's current version (above `report.version` when this one was superseded).
    latest_version: int
    #: The language the document's words are said in (a BCP 47 tag of ours).
    language: str = SOURCE_LANGUAGE

    @property
    def version(self) -> int:
        return self.report.version

    def etag(self, kind: str) -> str:
        """Strong: a version's document is made from rows that never change, but a
        co-signature adds to it (counted in the tag)."""
        cosigned = f"-c{len(self.cosigns)}" if self.cosigns else ""
        return f'"{self.case.id}-v{self.version}{cosigned}-{kind}-{self.language}"'


def load(
    ctx: Context,
    hub_name: str,
    case_id: str,
    version: int | None,
    action: str,
    language: str = SOURCE_LANGUAGE,
) -> ReportDocument:
    wanted = f"version {version}" if version is not None else "current version"
    wanted += f", {language}"
    with ctx.db.read() as session:
        case = visible_audited(session, ctx, Case, case_id, action, detail=wanted)
        reports = session.exec(
            select(Report).where(Report.case_id == case.id).order_by(col(Report.version))
        ).all()
        if not reports:
            raise NotFoundError(N_("the case has no signed report yet"))
        number = version if version is not None else reports[-1].version
        chosen = [report for report in reports if report.version <= number]
        if not chosen or chosen[-1].version != number:
            raise NotFoundError(N_("the case has no report version {number}", number=number))
        regions = session.exec(
            select(ReportRegion)
            .where(ReportRegion.case_id == case.id, ReportRegion.report_version == number)
            .order_by(col(ReportRegion.position))
        ).all()
        cosigns = session.exec(
            select(ReportCosign)
            .where(ReportCosign.case_id == case.id, ReportCosign.report_version == number)
            .order_by(col(ReportCosign.at))
        ).all()
        site = session.get(Site, case.site_id)
        assert site is not None
        return ReportDocument(
            hub_name=hub_name,
            case=case,
            site=site,
            report=chosen[-1],
            versions=list(chosen),
            regions=list(regions),
            cosigns=list(cosigns),
            latest_version=reports[-1].version,
            language=language,
        )
