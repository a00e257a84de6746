"""The hazard figures page (`selectors.figures`)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from minan.core.errors import DomainError
from minan.core.views import ScopedViewMixin, current_user
from minan.hazards.models import Hazard

from . import selectors


class HazardMetricsView(ScopedViewMixin, View):
    """Hazard figures of the scope for a period (`selectors.figures`): tiles for the totals, a table per
    county and the institutions with the most open hazards. A malformed period falls back to the default
    (1 January to today) with a message."""

    model = Hazard

    def get(self, request: HttpRequest) -> HttpResponse:
        today = timezone.localdate()
        period_error = ""
        try:
            date_from, date_to = selectors.parse_period(request.GET, today)
        except DomainError as exc:
            date_from, date_to = selectors.default_period(today)
            period_error = _("%(reason)s Showing 1 January to today instead.") % {"reason": exc.message}
        report = selectors.figures(current_user(request), date_from, date_to, today=today)
        context = {"report": report, "period_error": period_error, "top": selectors.TOP_INSTITUTIONS}
        return render(request, "hazards/metrics.html", context)
