"""xlsx exports: one writer for every list export, each export audited."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from io import BytesIO
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.styles import Font

from minan.audit.services import record

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value: Any) -> Any:
    # Cells that start with = + - @ would be formulas in Excel: keep them as text (CSV/xlsx injection).
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@"}:
        return "'" + value
    if hasattr(value, "tzinfo") and value.tzinfo is not None:
        return timezone.localtime(value).replace(tzinfo=None)
    return value


def workbook_bytes(title: str, headers: Sequence[Any], rows: Iterable[Sequence[Any]]) -> tuple[bytes, int]:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=str(title)[:31])
    header_font = Font(bold=True)
    from openpyxl.cell import WriteOnlyCell

    header_cells = []
    for h in headers:
        cell = WriteOnlyCell(ws, value=str(h))
        cell.font = header_font
        header_cells.append(cell)
    ws.append(header_cells)
    count = 0
    for row in rows:
        ws.append([_cell(v) for v in row])
        count += 1
    buffer = BytesIO()
    wb.save(buffer)
    return buffer.getvalue(), count


def xlsx_response(
    request: HttpRequest,
    name: str,
    title: Any,
    headers: Sequence[Any],
    rows: Iterable[Sequence[Any]],
    *,
    model: Any,
) -> HttpResponse:
    data, count = workbook_bytes(str(title), headers, rows)
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
