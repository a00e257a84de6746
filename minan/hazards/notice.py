"""The rectification notice (隐患整改通知书) as an A4 PDF, issued once a hazard is assigned.

The notice goes to a Chinese institution, so its text is Chinese whatever the language of the person
who prints it (like the 一院一码 sheet). Font, styles, the key/value table and the page are the shared
`minan.core.pdf`; reportlab's platypus wraps Chinese text and breaks pages.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone, translation
from reportlab.lib.units import mm
from reportlab.platypus import Spacer, Table

from minan.core import pdf

from .models import Hazard
from .workflow import PLAN_FIELDS

TITLE = "隐患整改通知书"
INTRO = "经检查，你单位存在下列事故隐患。请按照整改要求，在规定期限内完成整改。"
CLOSING = "整改完成后，请及时提交整改情况及佐证材料，申请验收。整改期间应落实必要的安全防范措施，确保安全。"
MAJOR_NOTE = "本隐患为重大事故隐患，已挂牌督办，须落实责任、措施、资金、时限和预案（五落实）。"
PLAN_LABELS = dict(
    zip(PLAN_FIELDS, ("责任（责任人及单位）", "措施", "资金（金额及来源）", "时限", "预案"), strict=True)
)


def _day(value: dt.date | None) -> str:
    return f"{value.year}年{value.month}月{value.day}日" if value else ""


def _plan_value(value: Any) -> Any:
    return _day(value) if isinstance(value, dt.date) else value


def _table(rows: list[tuple[str, Any]], styles: pdf.Styles) -> Table:
    """The key/value grid; the notice shows "—" for every empty value, 0 included (`pdf.para` alone shows 0
    as "0")."""
    return pdf.fact_table([(label, value or None) for label, value in rows], styles, label_width_mm=38)


def notice_pdf(hazard: Hazard, *, issuer: str, issued_on: dt.date | None, working_days: int | None) -> bytes:
    """The notice of an assigned hazard; `hazard` carries institution, clause and supervisor."""
    styles = pdf.styles()
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
            pdf.para(TITLE, styles.title),
            pdf.para(f"编号：第 {hazard.pk} 号", styles.right),
            Spacer(1, 4 * mm),
            pdf.para(f"{hazard.institution.name}：", styles.body),
            pdf.para(INTRO, styles.body),
            Spacer(1, 3 * mm),
            _table(rows, styles),
        ]
        if major:
            plan = [(PLAN_LABELS[f], _plan_value(getattr(hazard, f))) for f in PLAN_FIELDS]
            story += [
                Spacer(1, 4 * mm),
                pdf.para(MAJOR_NOTE, styles.body),
                Spacer(1, 2 * mm),
                _table(plan, styles),
            ]
        story += [
            Spacer(1, 4 * mm),
            pdf.para(CLOSING, styles.body),
            Spacer(1, 10 * mm),
            pdf.para(f"签发人：{issuer or '—'}", styles.right),
            pdf.para(f"签发日期：{_day(issued_on) or '—'}", styles.right),
            Spacer(1, 8 * mm),
            pdf.para(pdf.FOOTER.format(date=timezone.localdate().isoformat()), styles.small),
        ]
    return pdf.build(story, title=f"{TITLE} #{hazard.pk}")
