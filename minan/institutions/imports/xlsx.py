"""The xlsx file format of the institution registry: template, reading, row checks, export rows.

One column list (`COLUMNS`) serves the downloadable template, the import and the export, so an exported
file can be read back by the importer. The import is all-or-nothing: `validate_rows()` checks every row
and collects every problem as (line, column, message); `services.imports.import_institutions()` writes a
file without problems in one transaction, with one audit event, and runs large files as a Huey task
(`start_import_job`) whose state lives in a small JSON file next to the stored upload. Reading a workbook
safely, header mapping and the problem list are the shared `minan.core.xlsx`.

The column headers, the choice labels in the file and the instructions sheet are the file format, in
Chinese by design (templates are filled in and exchanged as Chinese spreadsheets); they are literal
constants on purpose, not UI text. Choice labels come from the models' Chinese translations so that they
stay in step with the .po file; error messages are gettext with English msgids like everywhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import IO, Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Field, QuerySet
from django.utils import translation
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from minan.core import xlsx
from minan.core.errors import DomainError
from minan.core.identifiers import normalise_uscc
from minan.core.scoping import in_scope
from minan.core.xlsx import (
    FORMULA_PREFIXES,
    MAX_FILE_BYTES,
    MAX_ROWS,
    RowError,
    read_upload,
    sheet_rows,
)
from minan.regions.models import Region

from .. import rules
from ..models import Institution, Ownership, Subtype

MAX_LINES_FACTOR = 4  # blank lines count too, up to this multiple of MAX_ROWS
PROGRESS_EVERY = 500
ASYNC_ROWS = 1000  # the upload page runs larger files as a background job with a progress page

SHEET_TITLE = "机构"
HELP_SHEET_TITLE = "填写说明"
LIST_SHEET_TITLE = "选项"
REGION_SHEET_TITLE = "区划代码"
TEMPLATE_ROWS = 20_000  # data validation ranges in the template cover this many rows

# (field, header). The file format: headers are Chinese constants; "*" marks a required column.
COLUMNS: list[tuple[str, str]] = [
    ("name", "机构名称*"),
    ("kind", "机构类型*"),
    ("subtype", "机构子类型"),
    ("ownership", "办理性质"),
    ("uscc", "统一社会信用代码"),
    ("region", "所属区划代码*"),
    ("address", "地址"),
    ("contact_name", "联系人"),
    ("contact_phone", "联系电话"),
    ("legal_representative", "法定代表人"),
    ("beds", "床位数"),
    ("residents", "在院人数"),
    ("staff_count", "工作人员数"),
    ("opened_on", "开业日期"),
    ("filing_status", "备案状态"),
    ("fire_acceptance", "消防验收或备案"),
    ("building_floors", "建筑层数"),
    ("building_structure", "建筑结构"),
    ("construction_year", "建成年份"),
    ("star_grade", "星级"),
    ("star_grade_date", "评定日期"),
    ("fire_standardised", "消防安全标准化"),
    ("fire_standardised_date", "达标日期"),
    ("latitude", "纬度"),
    ("longitude", "经度"),
    ("status", "运营状态"),
]
HEADERS = [header for _field, header in COLUMNS]
REQUIRED = frozenset(field for field, header in COLUMNS if header.endswith("*"))
COLUMN_NAME = {field: header.rstrip("*") for field, header in COLUMNS}
TEXT_FIELDS = ("name", "address", "contact_name", "contact_phone", "legal_representative")
INT_FIELDS = ("beds", "residents", "staff_count", "building_floors", "construction_year", "star_grade")
DATE_FIELDS = ("opened_on", "star_grade_date", "fire_standardised_date")
DECIMAL_FIELDS = ("latitude", "longitude")
CHOICE_FIELDS: dict[str, Any] = {
    "kind": Institution.Kind,
    "filing_status": Institution.Filing,
    "fire_acceptance": Institution.FireAcceptance,
    "building_structure": Institution.Structure,
    "status": Institution.Status,
}
# Chinese labels used while the .po file has no translation yet for a choice (then the label would
# come back in English); the translation wins as soon as it exists, and both spellings are accepted.
FALLBACK_LABELS: dict[str, dict[str, str]] = {
    "kind": {"elderly_care": "养老服务", "child_welfare": "儿童福利", "funeral": "殡葬服务"},
    "filing_status": {"filed": "已备案", "not_filed": "未备案", "not_required": "无需备案"},
    "fire_acceptance": {"accepted": "已通过验收", "filed": "已备案", "none": "均无", "unknown": "不详"},
    "building_structure": {
        "reinforced_concrete": "钢筋混凝土", "brick_concrete": "砖混", "steel": "钢结构",
        "brick_wood": "砖木", "other": "其他",
    },
    "status": {"operating": "正常运营", "suspended": "暂停运营", "closed": "已关停"},
}  # fmt: skip
YES, NO = "是", "否"
TRUE_VALUES = frozenset({YES, "true", "1", "yes", "y"})
FALSE_VALUES = frozenset({NO, "false", "0", "no", "n"})
_DATE_RE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_INT_RE = re.compile(r"^[+-]?\d+(?:\.0+)?$")

Row = dict[str, Any]  # {"line": n, field: raw cell value, ...}


# --- labels ----------------------------------------------------------------------------------------------


def choice_labels(field: str) -> list[tuple[str, str]]:
    """(code, Chinese label) of a choice column, from the model's translation (fallback while missing)."""
    choices = CHOICE_FIELDS[field]
    out = []
    for code, label in choices.choices:
        with translation.override("zh-hans"):
            zh = str(label)
        with translation.override("en"):
            en = str(label)
        if zh == en and code in FALLBACK_LABELS.get(field, {}):
            zh = FALLBACK_LABELS[field][code]
        out.append((code, zh))
    return out


def _choice_lookup(field: str) -> dict[str, str]:
    """Every accepted spelling (code, Chinese label, English label, fallback), lower-cased -> code."""
    lookup: dict[str, str] = {}
    fallback = FALLBACK_LABELS.get(field, {})
    for code, label in CHOICE_FIELDS[field].choices:
        spellings = [code, fallback.get(code, "")]
        for language in ("zh-hans", "en"):
            with translation.override(language):
                spellings.append(str(label))
        for spelling in spellings:
            if spelling:
                lookup.setdefault(spelling.strip().lower(), code)
    return lookup


def _field(name: str) -> Field[Any, Any]:
    field = Institution._meta.get_field(name)
    assert isinstance(field, Field)
    return field


def _limits(field: str) -> tuple[Any, Any]:
    """The (min, max) a number column allows, read from the model field's validators."""
    validators = _field(field).validators
    low = max((v.limit_value for v in validators if isinstance(v, MinValueValidator)), default=None)
    high = min((v.limit_value for v in validators if isinstance(v, MaxValueValidator)), default=None)
    return low, high


def _max_length(field: str) -> int:
    return int(_field(field).max_length or 0)


# --- template ----------------------------------------------------------------------------------------------

# What the instructions sheet says about each column (file format, Chinese by design).
_HELP: dict[str, str] = {
    "name": "机构全称，最多 {max} 字。",
    "kind": "填写机构类型名称或代码。",
    "subtype": "可选；须属于所填机构类型。填写名称或代码。",
    "ownership": "可选；填写名称或代码。",
    "uscc": "可选；18 位，校验位须正确。已在系统中登记的代码不能再次导入（导入只新建机构）。",
    "region": "县级区划或乡镇（街道）代码，须在您的数据范围内；见“区划代码”工作表。",
    "address": "最多 {max} 字。",
    "contact_name": "最多 {max} 字。",
    "contact_phone": "最多 {max} 个字符。",
    "legal_representative": "最多 {max} 字。",
    "beds": "整数。",
    "residents": "整数；养老机构的在院人数不得超过床位数。",
    "staff_count": "整数。",
    "opened_on": "日期，格式 YYYY-MM-DD（或 Excel 日期），不得晚于今天。",
    "filing_status": "养老机构备案状态；空白为“{default}”。",
    "fire_acceptance": "空白为“{default}”。",
    "building_floors": "整数。",
    "building_structure": "可选。",
    "construction_year": "四位年份，不得晚于今年。",
    "star_grade": "0 表示未评定；空白为 0。",
    "star_grade_date": "日期，格式 YYYY-MM-DD。",
    "fire_standardised": "是 或 否；空白为 否。",
    "fire_standardised_date": "日期，格式 YYYY-MM-DD。",
    "latitude": "十进制度，最多 6 位小数。",
    "longitude": "十进制度，最多 6 位小数。",
    "status": "空白为“{default}”。",
}


def _allowed_text(field: str, subtypes: list[Subtype], ownerships: list[Ownership]) -> str:
    if field in CHOICE_FIELDS:
        return "、".join(f"{label}（{code}）" for code, label in choice_labels(field))
    if field == "subtype":
        kinds = dict(choice_labels("kind"))
        return "；".join(f"{s.name}（{s.code}，{kinds.get(s.kind, s.kind)}）" for s in subtypes)
    if field == "ownership":
        return "、".join(f"{o.name}（{o.code}）" for o in ownerships)
    if field == "fire_standardised":
        return f"{YES}、{NO}"
    if field in INT_FIELDS or field in DECIMAL_FIELDS:
        low, high = _limits(field)
        return f"{low if low is not None else ''} – {high if high is not None else ''}"
    return ""


def _default_label(field: str) -> str:
    default = _field(field).default
    return dict(choice_labels(field)).get(str(default), "") if field in CHOICE_FIELDS else ""


def template_bytes(actor: Any = None) -> bytes:
    """The import template: the header row, an instructions sheet, drop-down lists and, for a user, the
    region codes inside their scope."""
    subtypes = list(Subtype.objects.filter(active=True))
    ownerships = list(Ownership.objects.filter(active=True))
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = SHEET_TITLE
    ws.append(HEADERS)
    bold = Font(bold=True)
    for index, (field, _header) in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        ws.cell(row=1, column=index).font = bold
        ws.column_dimensions[letter].width = 24 if field in ("name", "address", "uscc") else 14
        if field in ("uscc", "region", "contact_phone"):
            ws.column_dimensions[letter].number_format = "@"  # keep long codes as text (no 1.2E+17)
        if field in DATE_FIELDS:
            ws.column_dimensions[letter].number_format = "yyyy-mm-dd"
    ws.freeze_panes = "A2"

    # Lists for the drop-downs live on a hidden sheet (inline lists are limited to 255 characters).
    lists = wb.create_sheet(LIST_SHEET_TITLE)
    list_values: dict[str, list[str]] = {
        field: [label for _c, label in choice_labels(field)] for field in CHOICE_FIELDS
    }
    list_values["subtype"] = [s.name for s in subtypes]
    list_values["ownership"] = [o.name for o in ownerships]
    list_values["fire_standardised"] = [YES, NO]
    last = TEMPLATE_ROWS + 1
    for list_index, (field, values) in enumerate(list_values.items(), start=1):
        if not values:
            continue
        letter = get_column_letter(list_index)
        lists.cell(row=1, column=list_index, value=COLUMN_NAME[field])
        for row_index, value in enumerate(values, start=2):
            lists.cell(row=row_index, column=list_index, value=value)
        source = f"{quote_sheetname(LIST_SHEET_TITLE)}!${letter}$2:${letter}${len(values) + 1}"
        # A warning, not a stop: codes typed by hand are accepted by the importer too.
        validation = DataValidation(type="list", formula1=source, allow_blank=True, errorStyle="warning")
        column = get_column_letter([f for f, _h in COLUMNS].index(field) + 1)
        validation.add(f"{column}2:{column}{last}")
        ws.add_data_validation(validation)
    lists.sheet_state = "hidden"
    for field in INT_FIELDS:
        low, high = _limits(field)
        column = get_column_letter([f for f, _h in COLUMNS].index(field) + 1)
        validation = DataValidation(
            type="whole", operator="between", formula1=str(low or 0), formula2=str(high), allow_blank=True,
            errorStyle="warning",
        )  # fmt: skip
        validation.add(f"{column}2:{column}{last}")
        ws.add_data_validation(validation)

    help_sheet = wb.create_sheet(HELP_SHEET_TITLE)
    help_sheet.append(["列名", "必填", "说明", "可填写的值"])
    for cell in help_sheet[1]:
        cell.font = bold
    for field, _header in COLUMNS:
        text = _HELP[field].format(
            default=_default_label(field), max=_max_length(field) if field in TEXT_FIELDS else ""
        )
        help_sheet.append(
            [
                COLUMN_NAME[field],
                YES if field in REQUIRED else "",
                text,
                _allowed_text(field, subtypes, ownerships),
            ]
        )
    help_sheet.append([])
    for line in (
        "每行一家机构；第 1 行为表头，请勿修改表头文字（带 * 的列必须存在并填写）。",
        "导入前逐行检查；只要有一行有误，整个文件都不会导入，并列出每一行的问题。",
        f"一个文件最多 {MAX_ROWS} 行、{MAX_FILE_BYTES // (1024 * 1024)} MB，只接受 .xlsx 文件。",
        "没有表头的列会被忽略。",
    ):
        help_sheet.append([line])
    for letter, width in (("A", 18), ("B", 6), ("C", 60), ("D", 80)):
        help_sheet.column_dimensions[letter].width = width

    regions = Region.objects.filter(level__in=(Region.Level.COUNTY, Region.Level.TOWNSHIP), active=True)
    if actor is not None:
        regions = Region.objects.for_user(actor).filter(
            level__in=(Region.Level.COUNTY, Region.Level.TOWNSHIP), active=True
        )
    region_sheet = wb.create_sheet(REGION_SHEET_TITLE)
    region_sheet.append(["区划代码", "名称", "级别"])
    for cell in region_sheet[1]:
        cell.font = bold
    levels = {Region.Level.COUNTY: "县级", Region.Level.TOWNSHIP: "乡镇（街道）"}
    for code, name, level in regions.order_by("region_path").values_list("code", "name", "level")[:MAX_ROWS]:
        region_sheet.append([code, name, levels.get(level, level)])
    region_sheet.column_dimensions["A"].width = 16
    region_sheet.column_dimensions["B"].width = 30

    return xlsx.workbook_to_bytes(wb)


# --- reading -----------------------------------------------------------------------------------------------

FORMAT = xlsx.Columns(COLUMNS)


def parse_rows(file: str | Path | bytes | IO[Any], filename: str) -> list[Row]:
    """Read the first sheet of an .xlsx file into row dicts keyed by field, with the line number as seen
    in the file (header = 1). Raises ImportRefused for problems of the whole file (type, size, headers)."""
    if Path(filename).suffix.lower() != ".xlsx":
        raise xlsx.file_error(_("Only .xlsx files can be imported."))
    data = read_upload(file)
    mapping: dict[str, int] | None = None
    rows: list[Row] = []
    too_many = _("The file has more than %(max)d data rows.") % {"max": MAX_ROWS}
    for line, cells in sheet_rows(data):
        if line > MAX_LINES_FACTOR * MAX_ROWS:
            raise xlsx.file_error(too_many)
        if not any(cell is not None and str(cell).strip() for cell in cells):
            continue  # blank lines are allowed anywhere
        if mapping is None:
            mapping = FORMAT.map(line, cells)
            continue
        if len(rows) >= MAX_ROWS:
            raise xlsx.file_error(too_many)
        row: Row = {"line": line}
        for field, index in mapping.items():
            row[field] = cells[index] if index < len(cells) else None
        rows.append(row)
    if mapping is None:
        raise xlsx.file_error(_("The file is empty."))
    if not rows:
        raise xlsx.file_error(_("The file has no data rows."))
    return rows


# --- checking one value ------------------------------------------------------------------------------------


class _CellError(Exception):
    pass


def _text(value: Any) -> str:
    """A cell as text: numbers typed into Excel come back as int or float."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    text = str(value).strip()
    # The export writes '=… / '+… so that Excel shows text, not a formula: read the text back.
    if text[:1] == "'" and text[1:2] in FORMULA_PREFIXES:
        text = text[1:]
    return text


def _int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise _CellError(_("“%(value)s” is not a whole number.") % {"value": _text(value)})
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        text = _text(value)
        if not _INT_RE.match(text):
            raise _CellError(_("“%(value)s” is not a whole number.") % {"value": text})
        number = int(float(text)) if "." in text else int(text)
    low, high = _limits(field)
    if (low is not None and number < low) or (high is not None and number > high):
        raise _CellError(_("The value must be between %(min)s and %(max)s.") % {"min": low, "max": high})
    return number


def _decimal(value: Any, field: str) -> Decimal:
    text = _text(value)
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise _CellError(_("“%(value)s” is not a number.") % {"value": text}) from exc
    if not number.is_finite():
        raise _CellError(_("“%(value)s” is not a number.") % {"value": text})
    low, high = _limits(field)
    if (low is not None and number < low) or (high is not None and number > high):
        raise _CellError(_("The value must be between %(min)s and %(max)s.") % {"min": low, "max": high})
    return number.quantize(Decimal("0.000001"))


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    match = _DATE_RE.match(text)
    if match:
        try:
            return date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            pass
    raise _CellError(_("“%(value)s” is not a date; write YYYY-MM-DD.") % {"value": text})


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in TRUE_VALUES:
        return True
    if text in FALSE_VALUES:
        return False
    raise _CellError(
        _("Unknown value “%(value)s”; allowed: %(allowed)s.") % {"value": text, "allowed": "是、否"}
    )


# --- checking the rows -------------------------------------------------------------------------------------


class _Lookups:
    """Everything the checks need from the database, loaded once for the whole file."""

    def __init__(self, rows: Sequence[Row]) -> None:
        self.choices = {field: _choice_lookup(field) for field in CHOICE_FIELDS}
        self.allowed = {
            field: "、".join(label for _c, label in choice_labels(field)) for field in CHOICE_FIELDS
        }
        self.subtypes_by_code: dict[str, Subtype] = {}
        self.subtypes_by_name: dict[str, list[Subtype]] = {}
        for subtype in Subtype.objects.all():
            self.subtypes_by_code[subtype.code.lower()] = subtype
            self.subtypes_by_name.setdefault(subtype.name.strip().lower(), []).append(subtype)
        self.ownerships: dict[str, Ownership] = {}
        for ownership in Ownership.objects.all():
            self.ownerships.setdefault(ownership.code.lower(), ownership)
            self.ownerships.setdefault(ownership.name.strip().lower(), ownership)
        codes = sorted({_text(row.get("region")) for row in rows} - {""})
        self.regions: dict[str, Region] = {}
        for chunk in _chunks(codes, 1000):
            self.regions.update((r.code, r) for r in Region.objects.filter(code__in=chunk))
        usccs = sorted({normalise_uscc(_text(row.get("uscc"))) for row in rows} - {""})
        self.existing_usccs: set[str] = set()
        for chunk in _chunks(usccs, 1000):
            self.existing_usccs.update(
                u for u in Institution.objects.filter(uscc__in=chunk).values_list("uscc", flat=True) if u
            )


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


LOADED_RELATIONS = frozenset({"region", "subtype", "ownership"})


def _clean_fields_loaded_relations(institution: Institution, exclude: Iterable[str] | None = None) -> None:
    Institution.clean_fields(institution, exclude=set(exclude or ()) | LOADED_RELATIONS)


def _check_row(
    row: Row, actor: Any, lookups: _Lookups, seen_usccs: dict[str, int]
) -> tuple[Institution | None, list[RowError]]:
    """The row as an unsaved Institution, or None with the row's errors (every column is checked)."""
    line = row["line"]
    errors: list[RowError] = []
    values: dict[str, Any] = {}

    def fail(field: str, message: str) -> None:
        errors.append(RowError(line, COLUMN_NAME.get(field, ""), message))

    for field, _header in COLUMNS:
        raw = row.get(field)
        text = _text(raw)
        if not text:
            if field in REQUIRED:
                fail(field, _("A value is required."))
            continue
        try:
            if field in TEXT_FIELDS:
                if len(text) > _max_length(field):
                    raise _CellError(
                        _("The text is longer than %(max)d characters.") % {"max": _max_length(field)}
                    )
                values[field] = text
            elif field in INT_FIELDS:
                values[field] = _int(raw, field)
            elif field in DECIMAL_FIELDS:
                values[field] = _decimal(raw, field)
            elif field in DATE_FIELDS:
                values[field] = _date(raw)
            elif field == "fire_standardised":
                values[field] = _bool(raw)
            elif field in CHOICE_FIELDS:
                code = lookups.choices[field].get(text.lower())
                if code is None:
                    raise _CellError(
                        _("Unknown value “%(value)s”; allowed: %(allowed)s.")
                        % {"value": text, "allowed": lookups.allowed[field]}
                    )
                values[field] = code
        except _CellError as exc:
            fail(field, str(exc))

    kind = values.get("kind")
    if subtype_text := _text(row.get("subtype")):
        subtype = lookups.subtypes_by_code.get(subtype_text.lower())
        if subtype is None:
            candidates = lookups.subtypes_by_name.get(subtype_text.lower(), [])
            subtype = next((s for s in candidates if s.kind == kind), candidates[0] if candidates else None)
        if subtype is None:
            fail("subtype", _("Unknown subtype “%(value)s”.") % {"value": subtype_text})
        elif not subtype.active:
            fail("subtype", _("The subtype “%(value)s” is no longer in use.") % {"value": subtype_text})
        else:
            values["subtype"] = subtype
    if ownership_text := _text(row.get("ownership")):
        ownership = lookups.ownerships.get(ownership_text.lower())
        if ownership is None:
            fail("ownership", _("Unknown ownership model “%(value)s”.") % {"value": ownership_text})
        elif not ownership.active:
            fail(
                "ownership",
                _("The ownership model “%(value)s” is no longer in use.") % {"value": ownership_text},
            )
        else:
            values["ownership"] = ownership

    if region_text := _text(row.get("region")):
        region = lookups.regions.get(region_text)
        if region is None:
            fail("region", _("Unknown region code %(code)s.") % {"code": region_text})
        elif actor is not None and not in_scope(actor, region.region_path, kind=kind):
            fail("region", _("Region %(code)s is outside your scope.") % {"code": region_text})
        else:
            values["region"] = region

    uscc = normalise_uscc(_text(row.get("uscc")))
    if uscc:
        message = rules.uscc_error(uscc)
        if message:
            fail("uscc", message)
        elif uscc in seen_usccs:
            fail("uscc", _("The unified social credit code %(code)s already appears on line %(first)d.")
                 % {"code": uscc, "first": seen_usccs[uscc]})  # fmt: skip
        elif uscc in lookups.existing_usccs:
            fail(
                "uscc",
                _("Already exists: an institution with the unified social credit code %(code)s is registered; "
                  "the import only creates new institutions.") % {"code": uscc},
            )  # fmt: skip
        seen_usccs.setdefault(uscc, line)

    if errors:
        return None, errors
    region = values.pop("region")
    institution = Institution(region=region, region_path=region.region_path, **values)
    # Only on this unsaved object: its region, subtype and ownership come from the batched look-ups above,
    # so full_clean() need not query each one's existence again (3 queries per row, most of the checking
    # time). The foreign-key constraints still guard the insert.
    institution.clean_fields = partial(_clean_fields_loaded_relations, institution)  # type: ignore[method-assign]
    try:
        # The registry's own rules, in one place. The USCC was checked above against the whole file and
        # the database in one query, so validate() sees none (it would query once per row).
        rules.validate(institution, actor)
    except DomainError as exc:
        return None, [RowError(line, COLUMN_NAME.get((exc.field or "").removesuffix("_id"), ""), exc.message)]
    institution.uscc = uscc or None
    return institution, []


def validate_rows(
    actor: Any, rows: Sequence[Row], *, progress: Callable[[int, int], None] | None = None, total: int = 0
) -> list[Institution]:
    """Check every row; raise ImportRefused with every problem, else return the unsaved institutions."""
    lookups = _Lookups(rows)
    seen: dict[str, int] = {}
    institutions: list[Institution] = []
    errors: list[RowError] = []
    for done, row in enumerate(rows, start=1):
        institution, row_errors = _check_row(row, actor, lookups, seen)
        errors += row_errors
        if institution is not None:
            institutions.append(institution)
        if progress and done % PROGRESS_EVERY == 0:
            progress(done, total or len(rows))
    if errors:
        raise FORMAT.refused(errors)
    return institutions


# --- export ------------------------------------------------------------------------------------------------


def export_rows(qs: QuerySet[Institution]) -> Iterable[list[Any]]:
    """The institutions as rows in COLUMNS order, with the Chinese labels the importer reads back."""
    labels = {field: dict(choice_labels(field)) for field in CHOICE_FIELDS}
    subtypes = dict(Subtype.objects.values_list("pk", "name"))
    ownerships = dict(Ownership.objects.values_list("pk", "name"))
    for institution in qs.select_related("region").iterator(chunk_size=2000):
        row: list[Any] = []
        for field, _header in COLUMNS:
            if field == "region":
                row.append(institution.region.code)
            elif field == "subtype":
                row.append(subtypes.get(institution.subtype_id) if institution.subtype_id else None)
            elif field == "ownership":
                row.append(ownerships.get(institution.ownership_id) if institution.ownership_id else None)
            elif field in CHOICE_FIELDS:
                value = getattr(institution, field)
                row.append(labels[field].get(value, value) if value else None)
            elif field == "fire_standardised":
                row.append(YES if institution.fire_standardised else NO)
            else:
                value = getattr(institution, field)
                row.append(value if value != "" else None)
        yield row
