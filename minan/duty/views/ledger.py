"""The 一行一册 ledger: one sector's institutions with their whole responsibility chain, as a page and as xlsx."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.generic import TemplateView

from minan.core.export import sheets_response
from minan.core.masking import mask_phone
from minan.core.views import ScopedViewMixin, current_user
from minan.institutions.models import Commissioner, Institution

from .. import selectors
from ..models import DutyAssignment

LEDGER_HEADERS = [
    gettext_lazy("Township"), gettext_lazy("Institution name"), gettext_lazy("Subtype"), gettext_lazy("Class"), gettext_lazy("responsible cadre"),
    gettext_lazy("Cadre's phone"), gettext_lazy("Supervision group"), *[label for _r, label in Commissioner.Role.choices],
    gettext_lazy("Last duty visit"), gettext_lazy("Open hazards"),
]  # fmt: skip


def _ledger_cells(row: selectors.LedgerRow) -> list[Any]:
    inst = row.institution
    return [
        inst.region.name, inst.name, str(inst.subtype or ""), row.risk_class,
        row.cadre.display_name if row.cadre else "",
        mask_phone(row.cadre.phone) if row.cadre and row.cadre.phone else "",
        row.group, *[row.commissioners.get(role, "") for role in Commissioner.Role.values],
        row.last_visit, "" if row.open_hazards is None else row.open_hazards,
    ]  # fmt: skip


LEDGER_PAGE_ROWS = 1000


def _ledger_kind(request: HttpRequest) -> str:
    kind = request.GET.get("kind", "")
    return kind if kind in Institution.Kind.values else Institution.Kind.ELDERLY_CARE


class LedgerView(ScopedViewMixin, TemplateView):
    """一行一册: one sector's institutions with their whole responsibility chain, by county. A scope
    larger than LEDGER_PAGE_ROWS shows one county at a time (the export always holds every county)."""

    model = DutyAssignment
    template_name = "duty/ledger.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        kind = _ledger_kind(self.request)
        counties = selectors.ledger_counties(user, kind)
        county = self.request.GET.get("county", "")
        if county not in {code for code, _name, _n in counties}:
            county = ""
        total = sum(n for _code, _name, n in counties)
        rows = selectors.ledger(user, kind, county) if county or total <= LEDGER_PAGE_ROWS else []
        tables: dict[str, list[list[Any]]] = {}
        for row in rows:
            cells = [c.isoformat() if isinstance(c, dt.date) else c for c in _ledger_cells(row)]
            tables.setdefault(row.county, []).append(cells)
        context.update(
            kind=kind, kinds=Institution.Kind.choices, county=county, county_choices=counties, total=total,
            tables=tables, choose_county=not county and total > LEDGER_PAGE_ROWS, headers=LEDGER_HEADERS,
            hazards_known=any(r.open_hazards is not None for r in rows),
            can_export=user.has_perm("duty.export_dutyassignment"),
        )  # fmt: skip
        return context


class LedgerExportView(ScopedViewMixin, View):
    """The ledger as xlsx, one sheet per county (sheets in county-code order)."""

    model = DutyAssignment
    scope_action = "export"

    def get(self, request: HttpRequest) -> HttpResponse:
        kind = _ledger_kind(request)
        rows = selectors.ledger(current_user(request), kind)
        by_county: dict[tuple[str, str], list[list[Any]]] = {}
        for row in rows:
            by_county.setdefault((row.county_code, row.county), []).append(_ledger_cells(row))
        headers = [str(h) for h in LEDGER_HEADERS]
        sheets = [(name, headers, cells) for (_code, name), cells in sorted(by_county.items())]
        if not sheets:
            sheets = [(str(Institution.Kind(kind).label), headers, [])]
        return sheets_response(request, f"ledger-{kind}", sheets, model=DutyAssignment)
