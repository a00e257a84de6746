"""The inspection figures page and its xlsx export (`selectors.figures`): coverage of the planned tasks,
self-inspection compliance and results, for a period. Everything is read through `for_user`
(ScopedViewMixin for the permission, `selectors` for the rows)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from minan.core.audit.services import record
from minan.core.errors import DomainError
from minan.core.export import XLSX
from minan.core.views import ScopedViewMixin, current_user
from minan.core.xlsx import Sheet, sheets_bytes

from ..models import Inspection
from . import selectors


def _period(request: HttpRequest, today: dt.date) -> tuple[dt.date, dt.date, str]:
    """The period asked for; a malformed one falls back to the default with a message."""
    try:
        date_from, date_to = selectors.parse_period(request.GET, today)
    except DomainError as exc:
        date_from, date_to = selectors.default_period(today)
        return (
            date_from,
            date_to,
            _("%(reason)s Showing 1 January to today instead.") % {"reason": exc.message},
        )
    return date_from, date_to, ""


class InspectionFiguresView(ScopedViewMixin, View):
    """Tiles for the totals, tables per kind and per county, and the institutions with the lowest
    self-inspection compliance."""

    model = Inspection

    def get(self, request: HttpRequest) -> HttpResponse:
        today = timezone.localdate()
        date_from, date_to, period_error = _period(request, today)
        user = current_user(request)
        report = selectors.figures(user, date_from, date_to, today=today)
        context = {
            "report": report,
            "period_error": period_error,
            "top": selectors.TOP_INSTITUTIONS,
            "can_export": user.has_perm("inspections.export_inspection"),
        }
        return render(request, "inspections/figures.html", context)


def _rate(value: float | None) -> float | str:
    return "" if value is None else value


def coverage_headers(first: str) -> list[str]:
    return [
        first, _("Planned"), _("Done"), _("On time"), _("Late"), _("Missed"), _("Still to do"),
        _("Done rate (%)"), _("On-time rate (%)"), _("Ad hoc inspections"),
    ]  # fmt: skip


def coverage_cells(name: str, row: selectors.Coverage) -> list[Any]:
    return [
        name, row.planned, row.done, row.on_time, row.late, row.missed, row.open, _rate(row.done_rate),
        _rate(row.on_time_rate), row.adhoc,
    ]  # fmt: skip


def results_headers(first: str) -> list[str]:
    return [first, _("Pass"), _("Pass with findings"), _("Fail"), _("Submitted")]


def results_cells(name: str, row: selectors.Results) -> list[Any]:
    return [name, row.passed, row.findings, row.failed, row.total]


def export_sheets(report: selectors.InspectionFigures) -> list[Sheet]:
    """One sheet per table of the page, in the page's order."""
    total = _("Total")
    kind, county = _("Inspection kind"), _("County")
    coverage_kind: list[Sequence[Any]] = [coverage_cells(r.name, r) for r in report.coverage_by_kind]
    coverage_kind.append(coverage_cells(total, report.coverage))
    coverage_county: list[Sequence[Any]] = [coverage_cells(r.name, r) for r in report.coverage_by_county]
    coverage_county.append(coverage_cells(total, report.coverage))
    results_kind: list[Sequence[Any]] = [results_cells(r.name, r) for r in report.results_by_kind]
    results_kind.append(results_cells(total, report.results))
    results_county: list[Sequence[Any]] = [results_cells(r.name, r) for r in report.results_by_county]
    results_county.append(results_cells(total, report.results))
    compliance = [
        [name, r.institutions, r.due, r.on_time, _rate(r.average)]
        for name, r in [*((r.name, r) for r in report.compliance_by_county), (total, report.compliance)]
    ]
    lowest = [[r.name, r.county_name, r.due, r.on_time, _rate(r.rate)] for r in report.lowest_compliance]
    return [
        (_("Coverage by kind"), coverage_headers(kind), coverage_kind),
        (_("Inspections planned and done by county"), coverage_headers(county), coverage_county),
        (_("Results by kind"), results_headers(kind), results_kind),
        (_("Results by county"), results_headers(county), results_county),
        (
            _("Self-inspection by county"),
            [
                county,
                _("Institutions with tasks due"),
                _("Tasks due"),
                _("Done on time"),
                _("Average compliance (%)"),
            ],
            compliance,
        ),  # fmt: skip
        (
            _("Lowest self-inspection"),
            [_("Institution"), county, _("Tasks due"), _("Done on time"), _("Compliance (%)")],
            lowest,
        ),
    ]


class InspectionFiguresExportView(ScopedViewMixin, View):
    """The page's tables as an xlsx workbook, one sheet per table; audited."""

    model = Inspection
    scope_action = "export"

    def get(self, request: HttpRequest) -> HttpResponse:
        today = timezone.localdate()
        date_from, date_to, _error = _period(request, today)
        report = selectors.figures(current_user(request), date_from, date_to, today=today)
        data, count = sheets_bytes(export_sheets(report))
        record(
            "inspection.figures_export",
            request=request,
            object_type=Inspection._meta.label_lower,
            detail=f"{date_from.isoformat()}..{date_to.isoformat()}, {count} rows",
        )
        response = HttpResponse(data, content_type=XLSX)
        name = f"inspection-figures-{date_from:%Y%m%d}-{date_to:%Y%m%d}.xlsx"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
