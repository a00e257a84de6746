"""Loading the region tree from a CSV or XLSX file.

`load_regions()` validates every row first and collects every error; only a file without errors is
written, in one transaction, with one audit event. Existing regions are updated in place (name, level,
statutory flag, note); a region whose parent would change is refused, because moving a region would
need re-pathing every scoped row below it.

The upload, the workbook and the header row are read by `minan.core.xlsx` like every other import;
only the CSV decoding is the loader's own (no other import reads CSV).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.db import transaction
from django.utils.translation import gettext as _

from minan.core.audit.services import record
from minan.core.errors import NotPermitted
from minan.core.xlsx import Columns, ImportRefused, RowError, cell_text, read_upload, sheet_rows

from .models import Region

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 50_000
MAX_LINES_FACTOR = 4  # blank lines count too, up to this multiple of MAX_ROWS

NAME_MAX = 64
NOTE_MAX = 200

EXPORT_COLUMNS = ("code", "name", "level", "parent_code", "statutory", "note")
# The columns of the file: the export's headers, their Chinese spellings, in any case.
FORMAT = Columns(
    [(column, column) for column in EXPORT_COLUMNS],
    aliases={
        "代码": "code",
        "区划代码": "code",
        "名称": "name",
        "级别": "level",
        "上级代码": "parent_code",
        "法定区划": "statutory",
        "备注": "note",
    },
    required=("code", "name", "level"),
    ignore_case=True,
)

LEVEL_VALUES: dict[str, str] = {
    "province": Region.Level.PROVINCE,
    "省": Region.Level.PROVINCE,
    "city": Region.Level.CITY,
    "市": Region.Level.CITY,
    "county": Region.Level.COUNTY,
    "县": Region.Level.COUNTY,
    "区": Region.Level.COUNTY,
    "县级市": Region.Level.COUNTY,
    "township": Region.Level.TOWNSHIP,
    "乡镇": Region.Level.TOWNSHIP,
    "街道": Region.Level.TOWNSHIP,
    "镇": Region.Level.TOWNSHIP,
    "乡": Region.Level.TOWNSHIP,
}
TRUE_VALUES = frozenset({"是", "true", "1", "yes"})
FALSE_VALUES = frozenset({"否", "false", "0", "no"})

DEPTH: dict[str, int] = {str(level): depth for level, depth in Region.LEVEL_DEPTH.items()}
PARENT_LEVEL: dict[str, str] = {
    Region.Level.CITY: Region.Level.PROVINCE,
    Region.Level.COUNTY: Region.Level.CITY,
    Region.Level.TOWNSHIP: Region.Level.COUNTY,
}

_DIGITS = re.compile(r"[0-9]+")


class RegionLoadError(ImportRefused):
    """The file was refused; `errors` lists every problem found (a row's own problems have no column).
    Nothing was written."""

    code = "region_file_invalid"

    def summary(self, count: int) -> str:
        return _("The region file has %(count)d error(s); nothing was loaded.") % {"count": count}


def _refused(line: int, message: str) -> RegionLoadError:
    return RegionLoadError([RowError(line, "", message)])


@dataclass(frozen=True)
class LoadResult:
    created: int
    updated: int
    unchanged: int


@dataclass
class _Row:
    line: int
    code: str
    name: str
    level: str
    parent_code: str
    statutory: bool
    note: str


@dataclass(frozen=True)
class _Existing:
    pk: int
    code: str
    name: str
    level: str
    parent_code: str
    statutory: bool
    note: str
    region_path: str


def level_label(level: str) -> str:
    return str(Region.Level(level).label)


# --- reading -------------------------------------------------------------------------------------------


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """(line of the record's start, cells) of a UTF-8 CSV file (a byte-order mark is allowed)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _refused(0, _("The CSV file is not UTF-8 encoded.")) from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    try:
        for cells in reader:
            yield start, [cell.strip() for cell in cells]
            start = reader.line_num + 1
    except csv.Error as exc:
        raise _refused(start, _("The CSV file is malformed: %(error)s") % {"error": exc}) from exc


def _rows(source: str | Path | IO[Any], filename: str) -> Iterator[tuple[int, list[str]]]:
    """(line, cells as text) of every line of the file, CSV or the first sheet of an XLSX workbook."""
    suffix = Path(filename).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise _refused(0, _("Unsupported file type; use a .csv or .xlsx file."))
    data = read_upload(source, MAX_FILE_BYTES)
    if suffix == ".csv":
        yield from _csv_rows(data)
    else:
        for line, cells in sheet_rows(data):
            yield line, [cell_text(cell) for cell in cells]


# --- validation ----------------------------------------------------------------------------------------


def _parse_row(line: int, cells: list[str], mapping: dict[str, int], errors: list[RowError]) -> _Row | None:
    """The row's values, or None when a value is unusable (the error is recorded)."""

    def get(column: str) -> str:
        index = mapping.get(column)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    def fail(message: str) -> None:
        errors.append(RowError(line, "", message))

    before = len(errors)
    width = max(mapping.values(), default=-1) + 1
    if any(cell.strip() for cell in cells[width:]):
        fail(_("The row has values outside the columns named in the header."))

    code, name, note = get("code"), get("name"), get("note")
    if not code:
        fail(_("The code is empty."))
    elif not _DIGITS.fullmatch(code):
        fail(_("The code “%(code)s” must contain digits only.") % {"code": code})
    if not name:
        fail(_("The name is empty."))
    elif len(name) > NAME_MAX:
        fail(_("The name is longer than %(max)d characters.") % {"max": NAME_MAX})
    if len(note) > NOTE_MAX:
        fail(_("The note is longer than %(max)d characters.") % {"max": NOTE_MAX})

    raw_level = get("level")
    level = LEVEL_VALUES.get(raw_level.lower(), "")
    if not raw_level:
        fail(_("The level is empty."))
    elif not level:
        fail(
            _("Unknown level “%(value)s”; use province, city, county or township (省, 市, 县, 乡镇).")
            % {"value": raw_level}
        )

    raw_statutory = get("statutory")
    statutory = True
    if raw_statutory:
        if raw_statutory.lower() in TRUE_VALUES:
            statutory = True
        elif raw_statutory.lower() in FALSE_VALUES:
            statutory = False
        else:
            fail(
                _("Unknown statutory value “%(value)s”; use 是/否, true/false, yes/no or 1/0.")
                % {"value": raw_statutory}
            )

    parent_code = get("parent_code")
    if len(errors) > before:
        return None
    return _Row(line, code, name, level, parent_code, statutory, note)


def _check_code(row: _Row) -> str | None:
    """The code's shape for its level, and its prefix against the parent code."""
    code, parent = row.code, row.parent_code
    if row.level == Region.Level.PROVINCE:
        if len(code) != 6 or not code.endswith("0000"):
            return _("A province code has 6 digits and ends in 0000.")
        if parent:
            return _("A province has no parent.")
        return None
    if not parent:
        return _("The parent code is empty; only a province has no parent.")
    if row.level == Region.Level.CITY:
        if len(code) != 6 or not code.endswith("00") or code.endswith("0000"):
            return _("A city code has 6 digits and ends in 00 but not in 0000.")
        if code[:2] != parent[:2]:
            return _("A city code must begin with the first 2 digits of its province code %(parent)s.") % {
                "parent": parent
            }
    elif row.level == Region.Level.COUNTY:
        if len(code) != 6 or code.endswith("00"):
            return _("A county-level code has 6 digits and does not end in 00.")
        if code[:4] != parent[:4]:
            return _(
                "A county-level code must begin with the first 4 digits of its city code %(parent)s."
            ) % {"parent": parent}
    else:
        if len(code) not in (9, 12):
            return _("A township code has 9 or 12 digits.")
        if not code.startswith(parent):
            return _("A township code must begin with its county code %(parent)s.") % {"parent": parent}
    return None


def _validate(
    rows: list[_Row], existing: dict[str, _Existing], broken: set[str], errors: list[RowError]
) -> None:
    in_file = {row.code: row for row in rows}
    for row in rows:
        if message := _check_code(row):
            errors.append(RowError(row.line, "", message))
            continue
        if row.level != Region.Level.PROVINCE and row.parent_code not in broken:
            parent_row = in_file.get(row.parent_code)
            parent_db = existing.get(row.parent_code)
            parent_level = parent_row.level if parent_row else parent_db.level if parent_db else None
            if parent_level is None:
                errors.append(
                    RowError(
                        row.line,
                        "",
                        _("The parent %(parent)s is neither in the file nor in the database.")
                        % {"parent": row.parent_code},
                    )
                )
                continue
            if parent_level != PARENT_LEVEL[row.level]:
                errors.append(
                    RowError(
                        row.line,
                        "",
                        _("A %(level)s must be placed under a %(expected)s, but %(parent)s is a %(actual)s.")
                        % {
                            "level": level_label(row.level),
                            "expected": level_label(PARENT_LEVEL[row.level]),
                            "parent": row.parent_code,
                            "actual": level_label(parent_level),
                        },
                    )
                )
                continue
        current = existing.get(row.code)
        if current is not None and current.parent_code != row.parent_code:
            errors.append(
                RowError(
                    row.line,
                    "",
                    _(
                        "Region %(code)s exists under parent “%(old)s”, not “%(new)s”; "
                        "moving a region is not supported by the loader."
                    )
                    % {"code": row.code, "old": current.parent_code or "-", "new": row.parent_code or "-"},
                )
            )


def _existing() -> dict[str, _Existing]:
    """Every region in the database by code (the tree is small: a city has a few thousand nodes)."""
    fields = ("pk", "code", "name", "level", "parent__code", "statutory", "note", "region_path")
    return {
        code: _Existing(pk, code, name, level, parent_code or "", statutory, note, region_path)
        for pk, code, name, level, parent_code, statutory, note, region_path in Region.objects.values_list(
            *fields
        ).iterator(chunk_size=2000)
    }


# --- writing -------------------------------------------------------------------------------------------


def _write(rows: list[_Row], existing: dict[str, _Existing]) -> LoadResult:
    created = updated = unchanged = 0
    pk_of = {code: e.pk for code, e in existing.items()}
    path_of = {code: e.region_path for code, e in existing.items()}
    for depth in range(len(DEPTH)):
        level_rows = sorted((row for row in rows if DEPTH[row.level] == depth), key=lambda row: row.code)
        new: list[Region] = []
        changed: list[Region] = []
        for row in level_rows:
            path = (path_of[row.parent_code] if row.parent_code else "") + row.code + "/"
            path_of[row.code] = path
            parent_id = pk_of[row.parent_code] if row.parent_code else None
            current = existing.get(row.code)
            candidate = Region(
                code=row.code,
                name=row.name,
                level=row.level,
                parent_id=parent_id,
                statutory=row.statutory,
                note=row.note,
                region_path=path,
            )
            if current is None:
                new.append(candidate)
            elif (current.name, current.level, current.statutory, current.note, current.region_path) == (
                row.name,
                row.level,
                row.statutory,
                row.note,
                path,
            ):
                unchanged += 1
            else:
                candidate.pk = current.pk
                changed.append(candidate)
        if new:
            Region.objects.bulk_create(new, batch_size=500)
            missing = [region.code for region in new if region.pk is None]
            for region in new:
                if region.pk is not None:
                    pk_of[region.code] = region.pk
            for start in range(0, len(missing), 500):
                chunk = missing[start : start + 500]
                pk_of.update(Region.objects.filter(code__in=chunk).values_list("code", "pk"))
        if changed:
            Region.objects.bulk_update(
                changed, ["name", "level", "statutory", "note", "region_path"], batch_size=500
            )
        created += len(new)
        updated += len(changed)
    return LoadResult(created=created, updated=updated, unchanged=unchanged)


# --- entry point ---------------------------------------------------------------------------------------


def _read(source: str | Path | IO[Any], filename: str) -> tuple[list[_Row], set[str], list[RowError]]:
    """The usable rows, the codes of the unusable ones and the problems found, file order; ImportRefused
    for a problem of the header or the whole file."""
    errors: list[RowError] = []
    rows: list[_Row] = []
    seen: dict[str, int] = {}
    broken: set[str] = set()  # codes of rows refused here: their children are not blamed again
    mapping: dict[str, int] | None = None
    count = 0
    for line, cells in _rows(source, filename):
        if line > MAX_LINES_FACTOR * MAX_ROWS:  # mostly blank lines: a padded or inflated file
            raise _refused(0, _("The file has more than %(max)d rows.") % {"max": MAX_ROWS})
        if not any(cells):
            continue  # blank lines are allowed anywhere
        if mapping is None:
            mapping = FORMAT.map(line, cells)
            continue
        count += 1
        if count > MAX_ROWS:
            raise _refused(0, _("The file has more than %(max)d rows.") % {"max": MAX_ROWS})
        code_index = mapping["code"]
        raw_code = cells[code_index].strip() if code_index < len(cells) else ""
        if raw_code and raw_code in seen:
            message = _("The code %(code)s already appears on line %(first)d.")
            errors.append(RowError(line, "", message % {"code": raw_code, "first": seen[raw_code]}))
            continue
        seen.setdefault(raw_code, line)
        row = _parse_row(line, cells, mapping, errors)
        if row is None:
            broken.add(raw_code)
        else:
            rows.append(row)
    if mapping is None:
        raise _refused(0, _("The file is empty."))
    if not rows and not errors:
        raise _refused(0, _("The file has no data rows."))
    return rows, broken, errors


def load_regions(actor: Any, source: str | Path | IO[Any], *, filename: str | None = None) -> LoadResult:
    """Load a region tree from `source` (a path or a file object; .csv or .xlsx by file name).

    `actor` None means the system (command line). Raises RegionLoadError with every problem found;
    then nothing is written.
    """
    if actor is not None and not actor.has_perm("regions.load_region"):
        raise NotPermitted(_("You do not have permission to do this."))
    if filename is None:
        filename = str(source) if isinstance(source, (str, Path)) else str(getattr(source, "name", "") or "")
    display_name = Path(filename).name

    try:
        rows, broken, errors = _read(source, filename)
    except RegionLoadError:
        raise
    except ImportRefused as exc:  # the shared reader's: the upload, the workbook, the header row
        raise RegionLoadError(exc.errors) from exc

    with transaction.atomic():
        existing = _existing()
        _validate(rows, existing, broken, errors)
        if errors:
            raise RegionLoadError(errors)  # sorted by line, each line's problems in the order found
        result = _write(rows, existing)
        record(
            "regions.load",
            user=actor,
            username="" if actor is not None else "system",
            object_type="regions.region",
            detail=(
                f"regions loaded: created {result.created}, updated {result.updated}, "
                f"unchanged {result.unchanged}, file {display_name}"
            ),
        )
    return result
