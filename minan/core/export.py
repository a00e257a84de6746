"""xlsx exports: one writer for every list export, each export audited; and what the imports share to read
such a file back (`cell_text`, `squash`, `spellings`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from io import BytesIO
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from openpyxl import Workbook
from openpyxl.styles import Font

from minan.audit.services import record

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


FORMULA_PREFIXES = ("=", "+", "-", "@")


def _cell(value: Any) -> Any:
    # Cells that start with = + - @ would be formulas in Excel: keep them as text (CSV/xlsx injection).
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
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    header_font = Font(bold=True)
    count = 0
    for title, headers, rows in sheets:
        ws = wb.create_sheet(title=_sheet_title(str(title)))
        header_cells = []
        for h in headers:
            cell = WriteOnlyCell(ws, value=str(h))
            cell.font = header_font
            header_cells.append(cell)
        ws.append(header_cells)
        for row in rows:
            ws.append([_cell(v) for v in row])
            count += 1
    buffer = BytesIO()
    wb.save(buffer)
    return buffer.getvalue(), count


def _sheet_title(title: str) -> str:
    # Excel forbids []:*?/\ in sheet names and allows at most 31 characters.
    return "".join("_" if ch in "[]:*?/\\" else ch for ch in title)[:31] or "-"


def xlsx_response(
    request: HttpRequest,
    name: str,
    title: Any,
    headers: Sequence[Any],
    rows: Iterable[Sequence[Any]],
    *,
    model: Any,
) -> HttpResponse:
    return sheets_response(request, name, [(str(title), headers, rows)], model=model)


def sheets_response(request: HttpRequest, name: str, sheets: Sequence[Sheet], *, model: Any) -> HttpResponse:
    """The workbook as a download; the export is audited with its row count and filters."""
    data, count = sheets_bytes(sheets)
    record(
        "export",
        request=request,
        object_type=model._meta.label_lower,
        detail=f"{count} rows; filters: {request.GET.urlencode()}"[:500],
    )
    response = HttpResponse(data, content_type=XLSX)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.xlsx"'
    return response


# --- reading a file back (the imports) ---------------------------------------------------------------------


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
