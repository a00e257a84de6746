"""Deadline extensions and pauses: the institution asks, someone who issues notices decides (POST only)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views import View

from minan.core.errors import DomainError
from minan.core.views import ScopedViewMixin, current_user

from . import services
from .models import Extension, Hazard, Pause


class HazardActionView(ScopedViewMixin, View):
    """One POST on a hazard (or on a request of one), read through the scope; the service's refusal is
    shown as a message, and the user goes back to the hazard's page either way."""

    model = Hazard
    http_method_names = ["post"]
    request_model: Any = None  # Extension or Pause: `pk` names one of the hazard's requests

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        if self.request_model is None:
            target: Any = get_object_or_404(self.get_queryset(), pk=pk)
            hazard_id = target.pk
        else:
            target = get_object_or_404(
                self.request_model.objects.filter(hazard__in=self.get_queryset()), pk=pk
            )
            hazard_id = target.hazard_id
        try:
            messages.success(request, self.act(request, current_user(request), target))
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("hazards:detail", pk=hazard_id)

    def act(self, request: HttpRequest, actor: Any, target: Any) -> str:
        raise NotImplementedError


class ExtensionRequestView(HazardActionView):
    def act(self, request: HttpRequest, actor: Any, target: Any) -> str:
        days = request.POST.get("days", "")
        services.request_extension(actor, target, int(days) if days.isdigit() else 0, request.POST.get("reason", ""),
                                   request=request)  # fmt: skip
        return _("The extension is requested.")


class ExtensionDecideView(HazardActionView):
    request_model = Extension

    def act(self, request: HttpRequest, actor: Any, target: Any) -> str:
        services.decide_extension(actor, target, request.POST.get("approve") == "1", request.POST.get("comment", ""),
                                  request=request)  # fmt: skip
        return _("The decision is recorded.")


class PauseRequestView(HazardActionView):
    def act(self, request: HttpRequest, actor: Any, target: Any) -> str:
        services.request_pause(actor, target, request.POST.get("reason", ""), request=request)
        return _("The pause is requested.")


class PauseDecideView(HazardActionView):
    request_model = Pause

    def act(self, request: HttpRequest, actor: Any, target: Any) -> str:
        services.decide_pause(actor, target, request.POST.get("approve") == "1", request.POST.get("comment", ""),
                              request=request)  # fmt: skip
        return _("The decision is recorded.")


class PauseResumeView(HazardActionView):
    def act(self, request: HttpRequest, actor: Any, target: Any) -> str:
        hazard = services.resume(actor, target, request.POST.get("comment", ""), request=request)
        return _("The deadline clock runs again; the deadline is now %(date)s.") % {"date": hazard.deadline}
