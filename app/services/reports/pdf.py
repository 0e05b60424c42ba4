"""The report as an A4 PDF, with reportlab (see the README for why reportlab).

Deterministic: the same report version gives the same bytes (reportlab's
`invariant` mode fixes the file's dates and ids; the pictures are stored), so a
version's ETag stays true. Text is set in Vera, the TrueType font reportlab ships
(embedded: the page looks the same on every reader), and runs of Chinese, Japanese or
Korean characters (a patient's name, a diagnosis written in Chinese) in Adobe's
STSong-Light, which every PDF reader carries: no font file is needed on the hub.
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from app.models.cases import Report, ReportRegion
from app.services.reports.document import ReportDocument
from app.services.reports.regions import scale_label
from app.services.reports.words import Words

FONT, BOLD, CJK = "SlideBridgeSans", "SlideBridgeSans-Bold", "STSong-Light"
_fonts_ready = False


def _register_fonts() -> None:
    global _fonts_ready
    if _fonts_ready:
        return
    pdfmetrics.registerFont(TTFont(FONT, "Vera.ttf"))
    pdfmetrics.registerFont(TTFont(BOLD, "VeraBd.ttf"))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD)
    pdfmetrics.registerFont(UnicodeCIDFont(CJK))
    _fonts_ready = True


#: Characters Vera has no glyph for that matter here: CJK ideographs, kana, hangul,
#: full-width forms and CJK punctuation.
_CJK = re.compile(r"([\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]+)")


def markup(text: str) -> str:
    """Text as Paragraph markup: escaped, CJK runs in the CJK font, newlines kept."""
    parts = _CJK.split(text)
    out = [
        f'<font name="{CJK}">{escape(part)}</font>' if index % 2 else escape(part)
        for index, part in enumerate(parts)
    ]
    return "".join(out).replace("\n", "<br/>")


def when(value: datetime) -> str:
    """ISO 8601 with the zone (the hub keeps UTC): 2026-11-30T09:05:12+00:00."""
    return value.isoformat(timespec="seconds")


def day(value: date | None, word: Words) -> str:
    return value.isoformat() if value else word("none")


BODY = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=13)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8, leading=10, textColor=colors.grey)
LABEL = ParagraphStyle("label", parent=BODY, fontName=BOLD, fontSize=9, textColor=colors.black)
HUB = ParagraphStyle("hub", parent=BODY, fontName=BOLD, fontSize=14, leading=17)
TITLE = ParagraphStyle("title", parent=BODY, fontName=BOLD, fontSize=12, leading=15)
SECTION = ParagraphStyle(
    "section", parent=BODY, fontName=BOLD, fontSize=11, spaceBefore=8, spaceAfter=3
)
CATEGORY = ParagraphStyle("category", parent=BODY, fontName=BOLD, fontSize=14, leading=18)
WARNING = ParagraphStyle(
    "warning", parent=BODY, fontName=BOLD, fontSize=11, textColor=colors.HexColor("#a00000")
)
WIDTH = A4[0] - 36 * mm


def _p(text: str, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(markup(text), style)


def _facts(rows: list[tuple[str, str]]) -> Table:
    table = Table(
        [[_p(label, LABEL), _p(value)] for label, value in rows],
        colWidths=[45 * mm, WIDTH - 45 * mm],
        hAlign="LEFT",
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    return table


def _specimen(document: ReportDocument, word: Words) -> str:
    case = document.case
    side = word.side(case.specimen_laterality)
    parts = [case.specimen_site + (f" ({side})" if side else ""), case.specimen_type]
    return ", ".join(part for part in parts if part)


def _head(document: ReportDocument, word: Words) -> list[Flowable]:
    case, report = document.case, document.report
    flow: list[Flowable] = [
        _p(document.hub_name, HUB),
        _p(word.title(case.type), TITLE),
        _p(f"{word('case', case=case.id)} · {word('version', version=report.version)}", SMALL),
    ]
    if report.version > 1:
        flow.append(_p(word("amended", previous=report.version - 1), WARNING))
    if document.latest_version > report.version:
        flow.append(_p(word("superseded", latest=document.latest_version), WARNING))
    return flow


def _patient(document: ReportDocument, word: Words) -> list[Flowable]:
    case = document.case
    return [
        _p(word("section.patient"), SECTION),
        _facts(
            [
                (word("patient.name"), case.patient_name),
                (word("patient.mrn"), case.patient_mrn),
                (word("patient.dob"), day(case.patient_dob, word)),
                (word("patient.sex"), word.sex(case.patient_sex)),
            ]
        ),
    ]


def _request(document: ReportDocument, word: Words) -> list[Flowable]:
    case, site = document.case, document.site
    rows = [
        (word("request.site"), f"{site.name} ({site.code})"),
        (word("request.surgeon"), case.surgeon_name or word("none")),
        (word("request.room"), case.operating_room or word("none")),
        (word("request.specimen"), _specimen(document, word)),
        (word("request.question"), case.clinical_question),
    ]
    if case.history:
        rows.append((word("request.clinical_history"), case.history))
    rows.append((word("request.requested"), when(case.requested_at)))
    return [_p(word("section.request"), SECTION), _facts(rows)]


def _signer(report: Report) -> str:
    name = report.signed_by_name or report.signed_by
    who = f"{name} ({report.signed_by})" if report.signed_by_name else name
    return f"{who}, {when(report.signed_at)}"


def _result(document: ReportDocument, word: Words) -> list[Flowable]:
    report = document.report
    rows = [
        (word("result.diagnosis"), report.diagnosis),
        (word("result.margins"), report.margins or word("none")),
        (word("result.comment"), report.comment or word("none")),
        (word("result.transfer"), _transfer(document, word)),
        (word("result.signed"), _signer(report)),
    ]
    rows += [
        (word("result.cosigned"), f"{c.full_name or c.username} ({c.username}), {when(c.at)}")
        for c in document.cosigns
    ]
    category = word.category(report.category).upper()
    banner = [_p(word("result.transfer_banner"), WARNING)] if report.transfer else []
    return [
        _p(word("section.result"), SECTION),
        _p(f"{word('result.category')}: {category}", CATEGORY),
        *banner,
        Spacer(1, 2 * mm),
        _facts(rows),
    ]


def _transfer(document: ReportDocument, word: Words) -> str:
    report = document.report
    if not report.transfer:
        return word("result.transfer_no")
    said = word("result.transfer_yes", hub=document.hub_name)
    return f"{said}. {report.transfer_note}" if report.transfer_note else said


def _history(document: ReportDocument, word: Words) -> list[Flowable]:
    header = [
        _p(word(key), LABEL)
        for key in ("history.version", "history.signed", "history.by", "history.category",
                    "history.reason")
    ]  # fmt: skip
    rows: list[list[Flowable]] = [header]
    for report in document.versions:
        rows.append(
            [
                _p(str(report.version)),
                _p(when(report.signed_at)),
                _p(report.signed_by_name or report.signed_by),
                _p(word.category(report.category)),
                _p(report.reason or word("history.first")),
            ]
        )
    table = Table(
        rows, colWidths=[18 * mm, 56 * mm, 30 * mm, 30 * mm, WIDTH - 134 * mm], hAlign="LEFT"
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return [_p(word("section.history"), SECTION), table]


def _field(region: ReportRegion) -> tuple[str, str]:
    if region.mpp is None:
        return f"{region.l0_width} px", f"{region.l0_height} px"
    return scale_label(round(region.l0_width * region.mpp)), scale_label(
        round(region.l0_height * region.mpp)
    )


def _regions(document: ReportDocument, word: Words) -> list[Flowable]:
    if not document.regions:
        return []
    flow: list[Flowable] = []
    for region in document.regions:
        width, height = _field(region)
        what = "".join(f" · {part}" for part in (region.class_name, region.comment) if part)
        caption = word(
            "region.caption",
            position=region.position,
            slide=region.slide_number,
            what=what,
            width=width,
            height=height,
        )
        shown_w = min(WIDTH, 150 * mm)
        shown_h = shown_w * region.image_height / region.image_width
        if shown_h > 110 * mm:
            shown_h, shown_w = 110 * mm, 110 * mm * region.image_width / region.image_height
        image = Image(io.BytesIO(region.image_jpeg), width=shown_w, height=shown_h, hAlign="LEFT")
        head = [] if flow else [_p(word("section.regions"), SECTION)]  # kept with the first
        flow.append(KeepTogether([*head, image, _p(caption, SMALL), Spacer(1, 4 * mm)]))
    return flow


def render(document: ReportDocument) -> bytes:
    """The PDF with its words in the document's language (the data as written)."""
    _register_fonts()
    word = Words(document.language)
    case, report = document.case, document.report
    footer = word(
        "footer", hub=document.hub_name, case=case.id, version=report.version,
        mrn=case.patient_mrn,
    )  # fmt: skip

    def decorate(canvas: Canvas, _: object) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.setFillColor(colors.grey)
        text = f"{footer} · {word('page', page=canvas.getPageNumber())}"
        if _CJK.search(text):
            canvas.setFont(CJK, 7)
        canvas.drawString(18 * mm, 10 * mm, text)
        canvas.restoreState()

    buffer = io.BytesIO()
    pdf = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=18 * mm,
        title=f"{word.title(case.type)} · {word('version', version=report.version)}",
        author=document.hub_name,
        subject=str(case.id),
        creator="SlideBridge",
        invariant=1,
        lang=document.language,
    )
    story = [
        *_head(document, word),
        *_patient(document, word),
        *_request(document, word),
        *_result(document, word),
        *_history(document, word),
        *_regions(document, word),
    ]
    pdf.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()
