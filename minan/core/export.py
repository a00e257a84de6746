"""List exports as downloads: the workbook (written by `minan.core.xlsx`) as a response, each export
audited with its row count and filters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from minan.core.audit.services import record
from minan.core.xlsx import Sheet, sheets_bytes

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
