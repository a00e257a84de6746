"""A checklist version as a spreadsheet, one row per item, and back.

One column list (`COLUMNS`) serves the export and the import, so an exported file reads back unchanged.
The headers and the values in the file (是/否, the answer-type, severity and category names) are the file
format, Chinese by design like the registry's import (minan/institutions/excel.py); they are constants, not
UI text. The import also accepts the codes (`pass_fail`, `high`, …) and the English and Chinese UI names.

The import replaces the sections and items of a draft. Every row is checked first and every problem is
collected as (line, column, message); a file with any problem is refused whole and nothing is written.
Rows whose 分组 cell is empty belong to the section above (merged cells read that way).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.utils.translation import gettext as _

from minan.core.errors import NotPermitted
from minan.core.xlsx import Columns, RowError, Sheet, cell_text, read_table, sheets_bytes, spellings, squash
from minan.hazards.models import Category

from ..models import ChecklistItem, ChecklistTemplate
from . import services

# (field, header): the file format.
COLUMNS: list[tuple[str, str]] = [
    ("section", "分组"),
    ("code", "序号"),
    ("question", "检查内容"),
    ("answer_type", "答案类型"),
    ("choices", "选项"),
    ("failing_choices", "不合格选项"),
    ("min_value", "下限"),
    ("max_value", "上限"),
    ("unit", "单位"),
    ("photo_on_fail", "不合格需拍照"),
    ("note_on_fail", "不合格需说明"),
    ("severity", "严重程度"),
    ("points", "分值"),
    ("major_on_fail", "重大隐患"),
    ("clause", "判定条款"),
    ("basis", "依据"),
    ("hazard_category", "隐患类别"),
]
REQUIRED = ("section", "code", "question")
# The header row: the headers above or these other spellings.
FORMAT = Columns(
    COLUMNS, aliases={"编号": "code", "检查项": "question", "检查项目": "question"}, required=REQUIRED
)
HEADERS = FORMAT.headers
HEADER_OF = FORMAT.names
SHEET_TITLE = "检查项"
INFO_SHEET_TITLE = "检查表信息"

YES, NO = "是", "否"
TRUE_VALUES = frozenset({YES, "true", "1", "yes", "y", "√", "✓"})
FALSE_VALUES = frozenset({NO, "false", "0", "no", "n", ""})
CHOICE_JOIN = "；"

ANSWER_TYPE_NAMES = {
    "pass_fail": "合格/不合格",
    "number": "数值",
    "text": "文字",
    "choice": "选择",
    "photo": "拍照",
}
SEVERITY_NAMES = {"low": "低", "medium": "中", "high": "高"}
CATEGORY_NAMES = {
    "fire": "消防", "electrical": "电气", "gas": "燃气", "building": "建筑", "equipment": "特种设备",
    "food": "食品", "service": "服务安全（九防）", "security": "治安", "other": "其他",
}  # fmt: skip
CADENCE_NAMES = {
    "": "按需", "daily": "每日", "weekly": "每周", "monthly": "每月", "quarterly": "每季度",
    "half_yearly": "每半年", "yearly": "每年", "two_hourly": "每2小时",
}  # fmt: skip
STATUS_NAMES = {"draft": "草稿", "published": "已发布", "retired": "已停用"}
KIND_NAMES = {"duty": "包保督查", "sector": "行业检查", "expert": "专家勘察", "cross": "交叉互查", "video": "视频巡查",
              "self": "机构自查"}  # fmt: skip
INSTITUTION_KIND_NAMES = {"elderly_care": "养老服务", "child_welfare": "儿童福利", "funeral": "殡葬服务"}
MAX_ROWS = services.MAX_ITEMS


# --- export ----------------------------------------------------------------------------------------------------


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _yes(value: bool) -> str:
    return YES if value else NO


def item_rows(template: ChecklistTemplate) -> list[list[Any]]:
    items = ChecklistItem.objects.filter(template=template).select_related("section", "clause")
    return [
        [
            item.section.title,
            item.code,
            item.question,
            ANSWER_TYPE_NAMES[item.answer_type],
            CHOICE_JOIN.join(item.choices),
            CHOICE_JOIN.join(item.failing_choices),
            _number(item.min_value),
            _number(item.max_value),
            item.unit,
            _yes(item.photo_on_fail),
            _yes(item.note_on_fail),
            SEVERITY_NAMES[item.severity],
            item.points,
            _yes(item.major_on_fail),
            item.clause.key if item.clause else "",
            item.basis,
            CATEGORY_NAMES[item.hazard_category],
        ]  # fmt: skip
        for item in items.order_by("section__order", "section_id", "order", "id")
    ]


def info_rows(template: ChecklistTemplate) -> list[list[Any]]:
    return [
        ["编号", template.code],
        ["版本", template.version],
        ["名称", template.title],
        ["说明", template.description],
        ["检查类型", "、".join(KIND_NAMES.get(k, k) for k in template.kinds) or "不限"],
        [
            "机构类型",
            "、".join(INSTITUTION_KIND_NAMES.get(k, k) for k in template.institution_kinds) or "不限",
        ],
        ["频次", CADENCE_NAMES.get(template.cadence, template.cadence)],
        ["依据", template.basis],
        ["状态", STATUS_NAMES.get(template.status, template.status)],
    ]


def sheets(template: ChecklistTemplate) -> list[Sheet]:
    """The items sheet (read back by the import) and a sheet describing the version."""
    return [
        (SHEET_TITLE, HEADERS, item_rows(template)),
        (INFO_SHEET_TITLE, ["项目", "内容"], info_rows(template)),
    ]


def export_bytes(template: ChecklistTemplate) -> bytes:
    data, _count = sheets_bytes(sheets(template))
    return data


def filename(template: ChecklistTemplate) -> str:
    return f"checklist-{template.code}-v{template.version}"


# --- import ----------------------------------------------------------------------------------------------------


class _CellError(Exception):
    pass


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return YES if value else NO
    return cell_text(value)


def _choice(value: Any, lookup: dict[str, str], names: dict[str, str]) -> str | None:
    text = _text(value)
    if not text:
        return None
    code = lookup.get(squash(text))
    if code is None:
        raise _CellError(
            _("Unknown value “%(value)s”; allowed: %(allowed)s.")
            % {"value": text, "allowed": "、".join(names.values())}
        )
    return code


def _bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = _text(value).lower()
    if not text:
        return None
    if text in TRUE_VALUES:
        return True
    if text in FALSE_VALUES:
        return False
    raise _CellError(
        _("Unknown value “%(value)s”; allowed: %(allowed)s.") % {"value": text, "allowed": f"{YES}、{NO}"}
    )


def _points(value: Any) -> int | None:
    text = _text(value)
    if not text:
        return None
    if re.fullmatch(r"\d+", text):
        return int(text)
    raise _CellError(_("Enter whole points from 0 to %(max)d.") % {"max": services.MAX_POINTS})


def _decimal_cell(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = _text(value)
    return text or None


def _rows(file: Any, name: str) -> list[tuple[int, dict[str, Any]]]:
    return read_table(file, name, FORMAT.map, MAX_ROWS)


def check_rows(rows: Iterable[tuple[int, dict[str, Any]]]) -> list[services.PlannedSection]:
    """Every row checked (cells, then the item rules of `services.check_item`, then codes unique in the
    file); ImportRefused lists every problem by line and column."""
    answer_types = spellings(ChecklistItem.AnswerType.choices, ANSWER_TYPE_NAMES)
    severities = spellings(ChecklistItem.Severity.choices, SEVERITY_NAMES)
    categories = spellings(Category.choices, CATEGORY_NAMES)
    lookup = services.clause_lookup()
    errors: list[RowError] = []
    planned: list[services.PlannedSection] = []
    by_title: dict[str, services.PlannedSection] = {}
    seen: dict[str, int] = {}
    readers: dict[str, Any] = {
        "answer_type": lambda v: _choice(v, answer_types, ANSWER_TYPE_NAMES),
        "severity": lambda v: _choice(v, severities, SEVERITY_NAMES),
        "hazard_category": lambda v: _choice(v, categories, CATEGORY_NAMES),
        "photo_on_fail": _bool,
        "note_on_fail": _bool,
        "major_on_fail": _bool,
        "points": _points,
        "min_value": _decimal_cell,
        "max_value": _decimal_cell,
    }
    section_title = ""
    for line, row in rows:
        values: dict[str, Any] = {}

        def fail(name: str, message: str, line: int = line) -> None:
            errors.append(RowError(line, HEADER_OF.get(name, ""), message))

        for name, raw in row.items():
            if name == "section":
                continue
            try:
                values[name] = readers[name](raw) if name in readers else _text(raw)
            except _CellError as exc:
                fail(name, str(exc))
        title = _text(row.get("section"))
        if len(title) > 200:
            fail("section", _("At most %(limit)d characters.") % {"limit": 200})
        elif title:
            section_title = title
        elif not section_title:
            fail("section", _("Enter the section of the first item."))
        failed_cells = {e.column for e in errors if e.line == line}
        check = services.check_item(values, clause_by_key=lookup)
        for name, _code, message in check.problems:
            if HEADER_OF.get(name, "") not in failed_cells:
                fail(name, message)
        code = check.values.get("code", "")
        if code and code in seen:
            fail("code", _("Same item code as line %(line)d.") % {"line": seen[code]})
        seen.setdefault(code, line)
        if section_title:
            if section_title not in by_title:
                by_title[section_title] = services.PlannedSection(section_title, [])
                planned.append(by_title[section_title])
            by_title[section_title].items.append(check.values)
    if errors:
        raise FORMAT.refused(errors)
    return planned


def import_xlsx(
    actor: Any,
    draft: ChecklistTemplate,
    file: str | Path | IO[Any] | bytes,
    name: str,
    *,
    request: Any = None,
) -> int:
    """Replace the draft's sections and items with the file's rows: all of them, or nothing. Returns the
    number of items. The file is refused (ImportRefused, every problem listed) before anything is written."""
    if actor is None or not actor.has_perm(services.EDIT_PERMISSION):
        raise NotPermitted(_("You do not have permission to do this."))
    if draft.status != ChecklistTemplate.Status.DRAFT:
        raise services.immutable(draft)
    planned = check_rows(_rows(file, name))
    return services.replace_content(actor, draft, planned, request=request, source=Path(name).name[:100])


def known_values() -> dict[str, list[str]]:
    """What the columns with fixed values accept (shown on the import page)."""
    return {
        "答案类型": list(ANSWER_TYPE_NAMES.values()),
        "严重程度": list(SEVERITY_NAMES.values()),
        "隐患类别": list(CATEGORY_NAMES.values()),
        "是/否": [YES, NO],
    }
