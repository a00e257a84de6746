"""回头看 pages: draws of closed hazards to re-verify, and recording what was found."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from minan.core.errors import DomainError
from minan.core.views import ScopedViewMixin, current_user
from minan.hazards.models import Revisit

from . import selectors, services


def _date(value: str, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return default


class RevisitListView(ScopedViewMixin, TemplateView):
    """Revisits to check (pending first), recent draws, outcome rates; a draw form for supervisors."""

    model = Revisit
    template_name = "hazards/revisits.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        today = timezone.localdate()
        first = today.replace(day=1)
        last_month_end = first - dt.timedelta(days=1)
        revisits = (
            self.get_queryset()
            .select_related("hazard__institution", "draw", "checked_by")
            .order_by("outcome", "due_on", "id")[:300]
        )
        context.update(
            revisits=revisits,
            rates=selectors.revisit_rates(user, today.replace(month=1, day=1), today),
            can_draw=user.has_perm("hazards.supervise_hazard"),
            can_record=user.has_perm("hazards.accept_hazard"),
            default_from=last_month_end.replace(day=1),
            default_to=last_month_end,
            default_share=settings.REVISIT_GENERAL_SHARE,
        )
        return context

    def post(self, request: HttpRequest) -> HttpResponse:
        actor = current_user(request)
        today = timezone.localdate()
        try:
            if "revisit" in request.POST:
                revisit = get_object_or_404(self.get_queryset(), pk=request.POST.get("revisit") or 0)
                services.record_revisit(
                    actor,
                    revisit,
                    request.POST.get("outcome", ""),
                    request.POST.get("note", ""),
                    request=request,
                )
                messages.success(request, _("The revisit is recorded."))
            else:
                share = request.POST.get("general_share", "")
                draw = services.draw_revisits(
                    actor,
                    _date(request.POST.get("date_from", ""), today),
                    _date(request.POST.get("date_to", ""), today),
                    general_share=int(share) if share.isdigit() else None,
                    request=request,
                )
                messages.success(
                    request,
                    _("%(n)d of %(m)d closed hazards drawn for a revisit (seed %(seed)s).")
                    % {"n": draw.revisits.count(), "m": len(draw.candidates), "seed": draw.seed},
                )
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("hazards:revisits")
