from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.generic import ListView

from minan.core.export import xlsx_response
from minan.core.period import clamp
from minan.core.views import ScopedViewMixin

from .models import AuditEvent


def filter_events(qs: Any, params: Any) -> tuple[Any, list[str]]:
    """Apply the list filters; returns the queryset and messages for filters that were ignored."""
    errors: list[str] = []
    if username := params.get("user", "").strip()[:150]:
        qs = qs.filter(username=username)
    if action := params.get("action", "").strip()[:60]:
        qs = qs.filter(action__startswith=action)
    if (result := params.get("result")) in AuditEvent.Result.values:
        qs = qs.filter(result=result)
    if object_type := params.get("object_type", "").strip()[:60]:
        qs = qs.filter(object_type=object_type)
    if ip := params.get("ip", "").strip()[:45]:
        qs = qs.filter(ip=ip)
    for key, lookup, bound in (("from", "at__gte", time.min), ("to", "at__lte", time.max)):
        raw = params.get(key, "").strip()
        if not raw:
            continue
        try:
            day = parse_date(raw) if len(raw) == 10 else None
        except ValueError:
            day = None
        if day is None:
            errors.append(_("Ignored the date %(value)s: use YYYY-MM-DD.") % {"value": raw[:20]})
            continue
        qs = qs.filter(**{lookup: timezone.make_aware(datetime.combine(clamp(day), bound))})
    return qs, errors


class AuditEventListView(ScopedViewMixin, ListView):
    model = AuditEvent
    template_name = "audit/event_list.html"
    paginate_by = 100

    def get_queryset(self) -> Any:
        qs, self.filter_errors = filter_events(super().get_queryset(), self.request.GET)
        return qs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["filter_errors"] = self.filter_errors
        context["result_choices"] = AuditEvent.Result.choices
        context["query"] = self.request.GET.urlencode()
        return context


class AuditEventExportView(ScopedViewMixin, ListView):
    model = AuditEvent
    scope_action = "export"

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        qs, _errors = filter_events(self.get_queryset(), request.GET)
        rows = (
            [
                e.pk,
                e.at,
                e.username or _("System"),
                e.ip or "",
                e.action_label,
                e.object_label,
                e.object_id,
                e.get_result_display(),
                str(e.changes) if e.changes else "",
                e.detail,
                e.hash,
            ]
            for e in qs[:100_000].iterator(chunk_size=2000)
        )
        headers = [
            _("No."),
            _("Time"),
            _("User"),
            _("Client address"),
            _("Action"),
            _("Object type"),
            _("Object id"),
            _("Result"),
            _("Changes"),
            _("Detail"),
            _("Hash"),
        ]
        return xlsx_response(request, "audit", _("Audit trail"), headers, rows, model=AuditEvent)
