"""The fire-monitoring figures page per county (`selectors.figures`), for a period (default: the last 30
days). Read through `for_user` (ScopedViewMixin for the permission, `figures` for the rows)."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from minan.core.errors import DomainError
from minan.core.views import ScopedViewMixin, current_user
from minan.firewatch.models import Alarm

from . import selectors


def _period(request: HttpRequest, today: dt.date) -> tuple[dt.date, dt.date, str]:
    try:
        date_from, date_to = selectors.parse_period(request.GET, today)
    except DomainError as exc:
        date_from, date_to = selectors.default_period(today)
        return date_from, date_to, _("%(reason)s Showing the last 30 days instead.") % {"reason": exc.message}
    return date_from, date_to, ""


class FirewatchFiguresView(ScopedViewMixin, View):
    model = Alarm

    def get(self, request: HttpRequest) -> HttpResponse:
        date_from, date_to, period_error = _period(request, timezone.localdate())
        report = selectors.figures(current_user(request), date_from, date_to)
        chart = {
            "counties": [c.name for c in report.counties],
            "series": [
                {"name": _("Online rate (%)"), "data": [c.online_rate for c in report.counties]},
                {"name": _("False-alarm rate (%)"), "data": [c.false_alarm_rate for c in report.counties]},
            ],
        }
        context = {"report": report, "period_error": period_error, "chart": chart}
        return render(request, "firewatch/figures.html", context)
