"""The rectification notice (隐患整改通知书) as an A4 PDF, issued once a hazard is assigned.

The notice goes to a Chinese institution, so its text is Chinese whatever the language of the person
who prints it (like the 一院一码 sheet). It uses the same built-in CID font (STSong-Light, no font file)
registered by `minan.institutions.codes`; reportlab's platypus wraps Chinese text and breaks pages.
"""

from __future__ import annotations

import datetime as dt
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

from django.utils import timezone, translation
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from minan.institutions.codes import CJK_FONT, _setup_reportlab

from .models import Hazard
from .workflow import PLAN_FIELDS

TITLE = "隐患整改通知书"
INTRO = "经检查，你单位存在下列事故隐患。请按照整改要求，在规定期限内完成整改。"
CLOSING = "整改完成后，请及时提交整改情况及佐证材料，申请验收。整改期间应落实必要的安全防范措施，确保安全。"
MAJOR_NOTE = "本隐患为重大事故隐患，已挂牌督办，须落实责任、措施、资金、时限和预案（五落实）。"
FOOTER = "民政服务机构安全监管平台 · 生成于 {date}"
PLAN_LABELS = dict(
    zip(PLAN_FIELDS, ("责任（责任人及单位）", "措施", "资金（金额及来源）", "时限", "预案"), strict=True)
)


def _day(value: dt.date | None) -> str:
    return f"{value.year}年{value.month}月{value.day}日" if value else ""


def _plan_value(value: Any) -> Any:
    return _day(value) if isinstance(value, dt.date) else value


def notice_pdf(hazard: Hazard, *, issuer: str, issued_on: dt.date | None, working_days: int | None) -> bytes:
    """The notice of an assigned hazard; `hazard` carries institution, clause and supervisor."""
    _setup_reportlab()
    body = ParagraphStyle("body", fontName=CJK_FONT, fontSize=11, leading=17, wordWrap="CJK")
    title = ParagraphStyle("title", parent=body, fontSize=20, leading=28, alignment=TA_CENTER)
    right = ParagraphStyle("right", parent=body, alignment=TA_RIGHT)
    label = ParagraphStyle("label", parent=body, textColor=colors.HexColor("#333333"))
    small = ParagraphStyle("small", parent=body, fontSize=9, leading=12, textColor=colors.grey)

    def para(text: Any, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(str(text or "—")).replace("\n", "<br/>"), style)

    def table(rows: list[tuple[str, Any]]) -> Table:
        data = [[para(k, label), para(v)] for k, v in rows]
        grid = Table(data, colWidths=[38 * mm, None], repeatRows=0)
        grid.setStyle(
            TableStyle([
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#f2f2f2")),
            ])
        )  # fmt: skip
        return grid

    with translation.override("zh-hans"):
        deadline = _day(hazard.deadline) + (
            f"前（{working_days}个工作日）" if working_days is not None else "前"
        )
        rows: list[tuple[str, Any]] = [
            ("隐患编号", f"#{hazard.pk}"),
            ("隐患描述", hazard.description),
            ("隐患位置", hazard.location),
            ("隐患等级", hazard.get_level_display()),
        ]
        if hazard.clause is not None:
            rows.append(
                ("判定依据", f"{hazard.clause.criteria_set.title} {hazard.clause.key} {hazard.clause.text}")
            )
        rows += [("整改要求", hazard.requirement), ("整改期限", deadline)]
        major = hazard.level == Hazard.Level.MAJOR
        if major:
            supervisor = hazard.supervisor.display_name if hazard.supervisor else ""
            rows.append(("挂牌督办", f"{hazard.get_supervising_level_display()} {supervisor}".strip()))
        story: list[Any] = [
            para(TITLE, title),
            para(f"编号：第 {hazard.pk} 号", right),
            Spacer(1, 4 * mm),
            para(f"{hazard.institution.name}："),
            para(INTRO),
            Spacer(1, 3 * mm),
            table(rows),
        ]
        if major:
            plan = [(PLAN_LABELS[f], _plan_value(getattr(hazard, f))) for f in PLAN_FIELDS]
            story += [Spacer(1, 4 * mm), para(MAJOR_NOTE), Spacer(1, 2 * mm), table(plan)]
        story += [
            Spacer(1, 4 * mm),
            para(CLOSING),
            Spacer(1, 10 * mm),
            para(f"签发人：{issuer or '—'}", right),
            para(f"签发日期：{_day(issued_on) or '—'}", right),
            Spacer(1, 8 * mm),
            para(FOOTER.format(date=timezone.localdate().isoformat()), small),
        ]
    buffer = BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=20 * mm, bottomMargin=20 * mm,
        title=f"{TITLE} #{hazard.pk}", author="MinAn", creator="MinAn",
    )  # fmt: skip
    doc.build(story)
    return buffer.getvalue()
