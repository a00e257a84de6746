"""Deadline extensions and pauses: the institution asks, someone who issues notices decides (POST only)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views import View

from minan.core.errors import DomainError
from minan.core.views import ScopedViewMixin, current_user

from . import services
from .models import Extension, Hazard, Pause


class ExtensionRequestView(ScopedViewMixin, View):
    model = Hazard
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        hazard = get_object_or_404(self.get_queryset(), pk=pk)
        days = request.POST.get("days", "")
        try:
            services.request_extension(
                current_user(request), hazard, int(days) if days.isdigit() else 0, request.POST.get("reason", ""),
                request=request,
            )  # fmt: skip
            messages.success(request, _("The extension is requested."))
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("hazards:detail", pk=hazard.pk)


class ExtensionDecideView(ScopedViewMixin, View):
    model = Hazard
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        extension = get_object_or_404(Extension.objects.filter(hazard__in=self.get_queryset()), pk=pk)
        try:
            services.decide_extension(
                current_user(request), extension, request.POST.get("approve") == "1",
                request.POST.get("comment", ""), request=request,
            )  # fmt: skip
            messages.success(request, _("The decision is recorded."))
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("hazards:detail", pk=extension.hazard_id)


class PauseRequestView(ScopedViewMixin, View):
    model = Hazard
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        hazard = get_object_or_404(self.get_queryset(), pk=pk)
        try:
            services.request_pause(
                current_user(request), hazard, request.POST.get("reason", ""), request=request
            )
            messages.success(request, _("The pause is requested."))
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("hazards:detail", pk=hazard.pk)


class PauseDecideView(ScopedViewMixin, View):
    model = Hazard
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        pause = get_object_or_404(Pause.objects.filter(hazard__in=self.get_queryset()), pk=pk)
        try:
            services.decide_pause(
                current_user(request), pause, request.POST.get("approve") == "1", request.POST.get("comment", ""),
                request=request,
            )  # fmt: skip
            messages.success(request, _("The decision is recorded."))
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("hazards:detail", pk=pause.hazard_id)


class PauseResumeView(ScopedViewMixin, View):
    model = Hazard
    http_method_names = ["post"]

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        hazard = get_object_or_404(self.get_queryset(), pk=pk)
        try:
            hazard = services.resume(
                current_user(request), hazard, request.POST.get("comment", ""), request=request
            )
            messages.success(
                request,
                _("The deadline clock runs again; the deadline is now %(date)s.") % {"date": hazard.deadline},
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("hazards:detail", pk=hazard.pk)
