"""A cadre's institutions and the duty visits (包保督查): record, list, overdue, photos."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import ListView, TemplateView

from minan.core.errors import DomainError
from minan.core.forms import add_refusal
from minan.core.views import ScopedViewMixin, current_user
from minan.institutions.models import Institution

from .. import selectors, services
from ..forms import VisitForm
from ..models import DutyAssignment, DutyVisit, DutyVisitPhoto, Recurrence


class MyInstitutionsView(ScopedViewMixin, TemplateView):
    """The page a cadre opens every morning: their institutions with status, class, open hazards and
    alarms (when those modules provide them), last visit and the next visit due."""

    model = DutyAssignment
    template_name = "duty/mine.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        rows = selectors.my_institutions(user)
        ids = [r.assignment.institution_id for r in rows]
        context.update(
            rows=rows,
            rule=selectors.visit_rule(),
            rule_labels=dict(Recurrence.choices),
            hazards=selectors.institution_facts("open_hazards", ids),
            alarms=selectors.institution_facts("open_alarms", ids),
            overdue=sum(1 for r in rows if r.overdue),
            today=timezone.localdate(),
        )
        return context


class OverdueVisitsView(ScopedViewMixin, ListView):
    """Every overdue duty visit inside the user's scope, the longest overdue first, 100 a page."""

    model = DutyAssignment
    template_name = "duty/overdue.html"
    paginate_by = 100

    def get_queryset(self) -> Any:
        super().get_queryset()
        self.rule = selectors.visit_rule()
        # The selector reads through DutyAssignment.objects.for_user, like super().get_queryset().
        return selectors.overdue_assignments(current_user(self.request), rule=self.rule)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["rows"] = selectors.visit_schedule(context["object_list"], self.rule or "")
        return context


class VisitCreateView(ScopedViewMixin, View):
    """包保督查: the institution's responsible cadre records a visit."""

    model = DutyVisit
    scope_action = "add"

    def _institution(self, pk: int) -> Institution:
        return get_object_or_404(Institution.objects.for_user(current_user(self.request)), pk=pk)

    def _render(self, request: HttpRequest, institution: Institution, form: VisitForm) -> HttpResponse:
        return render(request, "duty/visit_form.html", {"form": form, "institution": institution})

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self._render(request, self._institution(pk), VisitForm())

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        institution = self._institution(pk)
        form = VisitForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.record_visit(
                    current_user(request), institution, visited_on=data["visited_on"], checked=data["checked"],
                    findings=data["findings"], photos=data["photos"], request=request,
                )  # fmt: skip
            except DomainError as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, _("The visit is recorded."))
                return redirect("duty:mine")
        return self._render(request, institution, form)


class VisitListView(ScopedViewMixin, ListView):
    """Duty visits inside the user's scope, newest first; filter by institution or month (YYYY-MM)."""

    model = DutyVisit
    template_name = "duty/visit_list.html"
    paginate_by = 50

    def get_queryset(self) -> Any:
        qs = super().get_queryset().select_related("institution__region", "cadre").prefetch_related("photos")
        params = self.request.GET
        if (institution := params.get("institution", "")).isdigit():
            qs = qs.filter(institution_id=int(institution))
        if month := _month(params.get("month", "")):
            qs = qs.filter(visited_on__year=month.year, visited_on__month=month.month)
        return qs


def _month(value: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        return None


class VisitPhotoView(ScopedViewMixin, View):
    """A visit photo, served only to users who can see the visit (not from a public media URL)."""

    model = DutyVisit

    def get(self, request: HttpRequest, pk: int) -> FileResponse:
        photo = get_object_or_404(DutyVisitPhoto.objects.filter(visit__in=self.get_queryset()), pk=pk)
        response = FileResponse(photo.image.open("rb"), content_type=photo.content_type)
        response["X-Content-Type-Options"] = "nosniff"
        return response
