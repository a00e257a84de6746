"""xlsx files in and out, shared by every import and export.

Reading: `read_upload` (size limit), `sheet_rows` (the first sheet, refusing what is not a workbook or
unpacks like a zip bomb), `Columns` (a file format's columns: header mapping with aliases, one
implementation), `read_table` (header + data rows), `cell_text` / `squash` / `spellings` (what a person
typed into a cell). Every problem is a `RowError` (line as seen in the file, column, message); a refused
file raises `ImportRefused` with all of them, and `error_table` cuts them for the page that lists them.

Writing: `sheets_bytes` / `workbook_bytes`, the one writer of the list exports (cells that would be
formulas are kept as text).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from django.utils import timezone, translation
from django.utils.translation import gettext as _
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils.exceptions import InvalidFileException

from minan.core.errors import DomainError

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_UNPACKED_BYTES = 200 * 1024 * 1024  # a 10 MB xlsx that unpacks beyond this is a zip bomb
MAX_ROWS = 20_000
MAX_COLUMNS = 64  # cells read per row
ERRORS_SHOWN = 200  # problems listed on an import page; the count says how many more

FORMULA_PREFIXES = ("=", "+", "-", "@")


# --- problems ----------------------------------------------------------------------------------------------


class RowError(NamedTuple):
    line: int  # as seen in the file, header = 1; 0 = the whole file
    column: str  # the column's name (without "*"), or "" for the file / the whole row
    message: str


class ImportRefused(DomainError):
    """The file was refused; `errors` lists every problem found, by line and then in the order of
    `columns` (the column names of the format; a column not named there comes first). Nothing was written."""

    code = "import_invalid"

    def __init__(self, errors: Sequence[RowError], *, columns: Sequence[str] = ()) -> None:
        super().__init__(self.summary(len(errors)))
        order = {name: index for index, name in enumerate(columns)}
        self.errors = sorted(errors, key=lambda e: (e.line, order.get(e.column, -1)))

    def summary(self, count: int) -> str:
        """The message above the list (a subclass may word it for its own files)."""
        return _("The file has %(count)d error(s); nothing was imported.") % {"count": count}


def file_error(message: str) -> ImportRefused:
    """A problem of the whole file (line 0)."""
    return ImportRefused([RowError(0, "", message)])


def error_table(errors: Sequence[RowError], shown: int = ERRORS_SHOWN) -> dict[str, Any]:
    """What an import page needs to list the problems: the first `shown`, their count, how many are hidden."""
    return {
        "errors": list(errors[:shown]),
        "error_count": len(errors),
        "errors_hidden": max(0, len(errors) - shown),
    }


# --- reading the workbook ----------------------------------------------------------------------------------


def read_upload(source: str | Path | bytes | IO[Any], max_bytes: int | None = None) -> bytes:
    """The bytes of an upload (a path, bytes, or a file / UploadedFile; a text file is read as UTF-8);
    ImportRefused beyond `max_bytes` (default MAX_FILE_BYTES)."""
    limit = MAX_FILE_BYTES if max_bytes is None else max_bytes
    too_large = _("The file is larger than %(size)d MB.") % {"size": limit // (1024 * 1024)}
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, (str, Path)):
        path = Path(source)
        if path.stat().st_size > limit:
            raise file_error(too_large)
        data = path.read_bytes()
    else:
        if (getattr(source, "size", None) or 0) > limit:  # an UploadedFile knows its size
            raise file_error(too_large)
        if hasattr(source, "seek"):
            source.seek(0)
        data = source.read(limit + 1)
        if isinstance(data, str):
            data = data.encode("utf-8")
    if len(data) > limit:
        raise file_error(too_large)
    return bytes(data)


def check_archive(data: bytes) -> None:
    """Refuse what is not a zip file, or unpacks to more than MAX_UNPACKED_BYTES (a zip bomb)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED_BYTES:
                raise file_error(_("The workbook is too large when unpacked."))
    except zipfile.BadZipFile as exc:
        raise file_error(_("The file is not a readable XLSX workbook.")) from exc


def sheet_rows(data: bytes) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(line, cells) of every row of the first sheet, line 1 first, at most MAX_COLUMNS cells a row."""
    unreadable = _("The file is not a readable XLSX workbook.")
    check_archive(data)
    try:
        # openpyxl parses the XML with defusedxml when it is installed (it is a dependency of MinAn).
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError, TypeError) as exc:
        raise file_error(unreadable) from exc
    try:
        sheet = workbook.worksheets[0]
        # Read every row whatever the sheet's dimension tag claims: read-only mode stops at the claimed
        # last row (a wrong tag would drop rows silently) and pads up to it (a tag reaching row 1,048,576
        # would look like a million blank lines).
        sheet.reset_dimensions()
        yield from enumerate(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1)
    finally:
        workbook.close()


def row_count_hint(data: bytes) -> int | None:
    """The number of data rows the first sheet claims (its dimension tag), without reading the rows;
    None when the file is unreadable or does not say. Only a hint: reading the rows counts for real."""
    try:
        check_archive(data)
        workbook = load_workbook(io.BytesIO(data), read_only=True)
    except Exception:
        return None  # reading the rows says what is wrong
    try:
        max_row = workbook.worksheets[0].max_row
    except Exception:
        return None
    finally:
        workbook.close()
    return None if max_row is None else max(0, max_row - 1)


def blank(cells: Sequence[Any]) -> bool:
    return not any(cell is not None and str(cell).strip() for cell in cells)


def read_table(
    source: str | Path | bytes | IO[Any],
    filename: str,
    header_map: Callable[[int, Sequence[Any]], dict[str, int]],
    max_rows: int,
) -> list[tuple[int, dict[str, Any]]]:
    """(line, {field: raw cell}) for every non-blank data row of an uploaded .xlsx's first sheet; the
    first non-blank row is the header, which `header_map(line, cells)` (usually `Columns.map`) turns into
    {field: column} (raising ImportRefused for missing columns). ImportRefused for problems of the whole
    file."""
    if Path(filename).suffix.lower() != ".xlsx":
        raise file_error(_("Only .xlsx files can be imported."))
    mapping: dict[str, int] | None = None
    rows: list[tuple[int, dict[str, Any]]] = []
    for line, cells in sheet_rows(read_upload(source)):
        if blank(cells):
            continue
        if mapping is None:
            mapping = header_map(line, cells)
            continue
        if len(rows) >= max_rows:
            raise file_error(_("The file has more than %(max)d data rows.") % {"max": max_rows})
        rows.append((line, pick(cells, mapping)))
    if mapping is None or not rows:
        raise file_error(_("The file has no data rows."))
    return rows


def pick(cells: Sequence[Any], mapping: Mapping[str, int]) -> dict[str, Any]:
    """{field: cell} of one row (None where the row is shorter than the header)."""
    return {name: cells[index] if index < len(cells) else None for name, index in mapping.items()}


# --- header mapping ----------------------------------------------------------------------------------------


def normalise_header(raw: Any) -> str:
    """A header cell as compared: no spaces, no byte-order mark, no trailing "*", ASCII brackets."""
    header = re.sub(r"\s+", "", cell_text(raw)).lstrip("\ufeff").rstrip("*＊")
    return header.replace("（", "(").replace("）", ")")


@dataclass(frozen=True)
class Columns:
    """The columns of a file format: (field, header) pairs in file order, "*" marking a required column.

    `aliases` are further headers read as a field; headers in `ignore` are skipped (read-only columns of an
    export). `required` overrides which fields must have a column (default: the starred ones). `strict`
    False ignores unknown headers instead of refusing them; `ignore_case` compares headers without case."""

    columns: Sequence[tuple[str, str]]
    aliases: Mapping[str, str] = field(default_factory=dict)
    ignore: Collection[str] = ()
    required: Collection[str] | None = None
    strict: bool = True
    ignore_case: bool = False

    @property
    def headers(self) -> list[str]:
        return [header for _name, header in self.columns]

    @property
    def names(self) -> dict[str, str]:
        """{field: column name}, the name being the header without "*" (used in every RowError)."""
        return {name: header.rstrip("*") for name, header in self.columns}

    @property
    def required_fields(self) -> list[str]:
        if self.required is not None:
            return [name for name, _header in self.columns if name in self.required]
        return [name for name, header in self.columns if header.endswith("*")]

    def refused(self, errors: Sequence[RowError]) -> ImportRefused:
        """ImportRefused with the errors in column order."""
        return ImportRefused(errors, columns=list(self.names.values()))

    def map(self, line: int, cells: Sequence[Any]) -> dict[str, int]:
        """{field: index} of a header row; ImportRefused listing unknown, repeated and missing columns."""

        def key(header: str) -> str:
            return header.lower() if self.ignore_case else header

        known = {key(normalise_header(header)): name for name, header in self.columns}
        known |= {key(normalise_header(alias)): name for alias, name in self.aliases.items()}
        skipped = {key(normalise_header(header)) for header in self.ignore}
        errors: list[RowError] = []
        mapping: dict[str, int] = {}
        for index, raw in enumerate(cells):
            header = normalise_header(raw)
            if not header or key(header) in skipped:
                continue  # columns without a header are ignored
            name = known.get(key(header))
            if name is None:
                if self.strict:
                    errors.append(
                        RowError(line, header, _("Unknown column “%(column)s”.") % {"column": header})
                    )
            elif name in mapping:
                errors.append(
                    RowError(
                        line, header, _("Column “%(column)s” appears more than once.") % {"column": header}
                    )
                )
            else:
                mapping[name] = index
        names = self.names
        for name in self.required_fields:
            if name not in mapping:
                errors.append(
                    RowError(
                        line,
                        names[name],
                        _("Required column “%(column)s” is missing.") % {"column": names[name]},
                    )
                )
        if errors:
            raise self.refused(errors)
        return mapping


# --- reading a cell ----------------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """A cell as the text a person typed: whole numbers without ".0", and the export's '=… / '-… (kept as
    text so that Excel shows no formula) read back without the quote."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    if text[:1] == "'" and text[1:2] in FORMULA_PREFIXES:
        text = text[1:]
    return text


def squash(text: str) -> str:
    """A spelling compared without spaces, case, or full-width brackets."""
    return re.sub(r"\s+", "", text).replace("（", "(").replace("）", ")").lower()


def spellings(choices: Any, file_names: dict[str, str]) -> dict[str, str]:
    """Every accepted spelling of a choice (squashed) -> its code: the file's name, the code, the UI labels
    in Chinese and English."""
    lookup: dict[str, str] = {}
    for code, label in choices:
        names = [file_names.get(code, ""), code]
        for language in ("zh-hans", "en"):
            with translation.override(language):
                names.append(str(label))
        for name in names:
            if name:
                lookup.setdefault(squash(name), code)
    return lookup


# --- writing -----------------------------------------------------------------------------------------------


def export_cell(value: Any) -> Any:
    """A value as written: text that Excel would take for a formula (= + - @) keeps a leading quote
    (CSV/xlsx injection); aware datetimes in local time."""
    if isinstance(value, str) and value[:1] in FORMULA_PREFIXES:
        return "'" + value
    if hasattr(value, "tzinfo") and value.tzinfo is not None:
        return timezone.localtime(value).replace(tzinfo=None)
    return value


Sheet = tuple[str, Sequence[Any], Iterable[Sequence[Any]]]  # title, headers, rows


def workbook_bytes(title: str, headers: Sequence[Any], rows: Iterable[Sequence[Any]]) -> tuple[bytes, int]:
    return sheets_bytes([(title, headers, rows)])


def sheets_bytes(sheets: Sequence[Sheet]) -> tuple[bytes, int]:
    """An xlsx workbook with one sheet per (title, headers, rows); returns it and the number of rows."""
    wb = Workbook(write_only=True)
    header_font = Font(bold=True)
    count = 0
    for title, headers, rows in sheets:
        ws = wb.create_sheet(title=sheet_title(str(title)))
        header_cells = []
        for h in headers:
            cell = WriteOnlyCell(ws, value=str(h))
            cell.font = header_font
            header_cells.append(cell)
        ws.append(header_cells)
        for row in rows:
            ws.append([export_cell(v) for v in row])
            count += 1
    return workbook_to_bytes(wb), count


def sheet_title(title: str) -> str:
    # Excel forbids []:*?/\ in sheet names and allows at most 31 characters.
    return "".join("_" if ch in "[]:*?/\\" else ch for ch in title)[:31] or "-"


def workbook_to_bytes(wb: Workbook) -> bytes:
    """An openpyxl workbook (a template built cell by cell) as the bytes of an .xlsx file."""
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
