"""The criteria catalogue: every criteria set with its clauses and how complete it is,
and the pages administrators enter the official texts with. Every write goes through `services`."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import messages
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from minan.core.errors import DomainError
from minan.core.forms import add_refusal
from minan.core.views import PermissionPageMixin, current_user
from minan.hazards.models import Clause, CriteriaSet, Hazard

from . import services
from .forms import ClauseForm, CriteriaSetForm


class CriteriaView(PermissionPageMixin, TemplateView):
    """Reference data shared by the whole deployment (not scoped): who may read hazards may read the
    criteria they are judged by. Shows "7 of 22 situations loaded" until the official text is complete."""

    permission: ClassVar[str] = "hazards.view_hazard"
    object_type: ClassVar[str] = "hazards.criteriaset"
    template_name = "hazards/criteria.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["sets"] = (
            CriteriaSet.objects.annotate(loaded=Count("clauses"))
            .select_related("superseded_by")
            .prefetch_related(Prefetch("clauses", queryset=Clause.objects.order_by("order", "key")))
            .order_by("-active", "code")
        )
        context["can_edit"] = self.request.user.has_perm(services.EDIT_PERMISSION)
        return context


def _catalogue(criteria_set: CriteriaSet | None = None) -> str:
    url = reverse("hazards:criteria")
    return f"{url}#criteria-{criteria_set.code}" if criteria_set is not None else url


class CriteriaEditMixin(PermissionPageMixin):
    """Editing the catalogue: `hazards.change_criteriaset` (system administrator, city safety office).
    Not scoped: the catalogue is reference data of the whole deployment."""

    permission: ClassVar[str] = services.EDIT_PERMISSION
    object_type: ClassVar[str] = "hazards.criteriaset"


class CriteriaSetFormView(CriteriaEditMixin, View):
    """New criteria set (no pk) or edit one (`services.save_set`)."""

    template_name = "hazards/criteria_form.html"

    def target(self) -> CriteriaSet | None:
        pk = getattr(self, "kwargs", {}).get("pk")
        return get_object_or_404(CriteriaSet, pk=pk) if pk is not None else None

    def render_form(
        self, form: CriteriaSetForm, target: CriteriaSet | None, status: int = 200
    ) -> HttpResponse:
        context = {
            "form": form,
            "kind": "set",
            "object": target,
            "criteria_set": target,
            "creating": target is None,
        }
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        target = self.target()
        initial = CriteriaSetForm.initial_for(target) if target is not None else None
        return self.render_form(CriteriaSetForm(initial=initial, instance=target), target)

    def post(self, request: HttpRequest, pk: int | None = None) -> HttpResponse:
        target = self.target()
        form = CriteriaSetForm(request.POST, instance=target)
        if form.is_valid():
            try:
                saved = services.save_set(current_user(request), target, request=request, **form.cleaned_data)
            except DomainError as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, _("The criteria set %(code)s was saved.") % {"code": saved.code})
                return redirect(_catalogue(saved))
        return self.render_form(form, target, status=400)


class ClauseFormView(CriteriaEditMixin, View):
    """New clause in a set (`/criteria/<set>/clauses/new/`) or edit one (`/criteria/clauses/<pk>/edit/`),
    through `services.save_clause`."""

    object_type: ClassVar[str] = "hazards.clause"
    template_name = "hazards/criteria_form.html"
    creating: ClassVar[bool] = False

    def targets(self) -> tuple[CriteriaSet, Clause | None]:
        pk = self.kwargs["pk"]
        if self.creating:
            return get_object_or_404(CriteriaSet, pk=pk), None
        clause = get_object_or_404(Clause.objects.select_related("criteria_set"), pk=pk)
        return clause.criteria_set, clause

    def render_form(
        self, form: ClauseForm, criteria_set: CriteriaSet, clause: Clause | None, status: int = 200
    ) -> HttpResponse:
        context = {
            "form": form, "kind": "clause", "object": clause, "criteria_set": criteria_set, "creating": clause is None,
            "loaded": criteria_set.clauses.count(),
        }  # fmt: skip
        return render(self.request, self.template_name, context, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        criteria_set, clause = self.targets()
        initial = ClauseForm.initial_for(clause) if clause is not None else None
        return self.render_form(ClauseForm(initial=initial), criteria_set, clause)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        criteria_set, clause = self.targets()
        form = ClauseForm(request.POST)
        if form.is_valid():
            values = dict(form.cleaned_data)
            if clause is not None and values.get("order") is None:
                values.pop("order")  # left empty on an edit: the clause keeps its place
            try:
                saved = services.save_clause(
                    current_user(request), criteria_set, clause, request=request, **values
                )
            except DomainError as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, _("The clause %(key)s was saved.") % {"key": saved.key})
                return redirect(_catalogue(criteria_set))
        return self.render_form(form, criteria_set, clause, status=400)


class ClauseCreateView(ClauseFormView):
    creating = True


class ClauseDeleteView(CriteriaEditMixin, View):
    """GET asks for confirmation (and says when hazards refer to the clause); POST deletes through
    `services.delete_clause`, which refuses a clause in use and changes nothing."""

    object_type: ClassVar[str] = "hazards.clause"
    template_name = "hazards/criteria_clause_delete.html"

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        clause = get_object_or_404(Clause.objects.select_related("criteria_set"), pk=pk)
        context = {"clause": clause, "in_use": Hazard.objects.filter(clause=clause).exists()}
        return render(request, self.template_name, context)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        clause = get_object_or_404(Clause.objects.select_related("criteria_set"), pk=pk)
        try:
            services.delete_clause(current_user(request), clause, request=request)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("The clause %(key)s was deleted.") % {"key": clause.key})
        return redirect(_catalogue(clause.criteria_set))
