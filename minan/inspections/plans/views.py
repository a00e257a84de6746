"""Pages of inspection plans and their tasks: the plan list, new / edit / detail (its tasks and their
counts per status, "generate now" and "stop" for planners), the task list with filters, "my tasks",
a task's page and the assign / reassign form.

Plans and tasks are read through `for_user` (ScopedViewMixin): outside the scope is a 404. Writes go
through `services` only; a refusal is shown with its reason and changes nothing.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import ListView

from minan.accounts.models import User
from minan.core.errors import DomainError
from minan.core.forms import add_refusal
from minan.core.views import ScopedViewMixin, current_user
from minan.institutions.models import Institution
from minan.regions.models import Region

from ..checklists.selectors import current_template
from ..execution import services as execution
from ..models import Inspection, InspectionPlan, InspectionTask, Kind
from . import selectors, services
from .forms import AssignForm, PlanForm

TODO = (InspectionTask.Status.OPEN, InspectionTask.Status.MISSED)


# --- plans ---------------------------------------------------------------------------------------------------------


class PlanListView(ScopedViewMixin, ListView):
    """Plans in scope, running ones first, with their tasks per status (tasks inside the scope)."""

    model = InspectionPlan
    template_name = "inspections/plan_list.html"
    paginate_by = 50

    def get_queryset(self) -> QuerySet[InspectionPlan]:
        return super().get_queryset().select_related("region").order_by("-active", "name", "id")

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        page = list(context["object_list"])
        counts = selectors.counts_by_plan(InspectionTask.objects.for_user(user), [p.pk for p in page])
        context.update(
            rows=[(plan, counts[plan.pk]) for plan in page],
            can_add=user.has_perm("inspections.add_inspectionplan"),
        )
        return context


class PlanCreateView(ScopedViewMixin, View):
    """A new plan (`services.save_plan`); a refusal is shown on its field and nothing is written."""

    model = InspectionPlan
    scope_action = "add"

    def _render(self, request: HttpRequest, form: PlanForm, status: int = 200) -> HttpResponse:
        return render(request, "inspections/plan_form.html", {"form": form, "plan": None}, status=status)

    def get(self, request: HttpRequest) -> HttpResponse:
        initial = {"starts_on": timezone.localdate(), "auto_assign": True}
        return self._render(request, PlanForm(user=current_user(request), initial=initial))

    def post(self, request: HttpRequest) -> HttpResponse:
        user = current_user(request)
        form = PlanForm(request.POST, user=user)
        if not form.is_valid():
            return self._render(request, form, status=400)
        try:
            plan = services.save_plan(user, None, request=request, **form.cleaned_data)
        except DomainError as exc:
            add_refusal(form, exc)
            return self._render(request, form, status=400)
        messages.success(
            request, _("The plan is saved. Its tasks are generated tonight, or now with “Generate now”.")
        )
        return redirect("inspections:plan_detail", pk=plan.pk)


class PlanEditView(ScopedViewMixin, View):
    """Change a plan; the change applies from the next period (tasks made keep their due dates)."""

    model = InspectionPlan
    scope_action = "change"
    kwargs: dict[str, Any]

    def _render(
        self, request: HttpRequest, form: PlanForm, plan: InspectionPlan, status: int = 200
    ) -> HttpResponse:
        return render(request, "inspections/plan_form.html", {"form": form, "plan": plan}, status=status)

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        plan = get_object_or_404(self.get_queryset(), pk=pk)
        form = PlanForm(user=current_user(request), initial=PlanForm.initial_for(plan))
        return self._render(request, form, plan)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        user = current_user(request)
        plan = get_object_or_404(self.get_queryset(), pk=pk)
        form = PlanForm(request.POST, user=user)
        if not form.is_valid():
            return self._render(request, form, plan, status=400)
        try:
            services.save_plan(user, plan, request=request, **form.cleaned_data)
        except DomainError as exc:
            add_refusal(form, exc)
            return self._render(request, form, plan, status=400)
        messages.success(request, _("Saved. The change applies from the next period."))
        return redirect("inspections:plan_detail", pk=plan.pk)


class PlanDetailView(ScopedViewMixin, View):
    """A plan, what it covers, its tasks (inside the scope) per status and 50 a page."""

    model = InspectionPlan

    def get_queryset(self) -> QuerySet[InspectionPlan]:
        return super().get_queryset().select_related("region", "created_by")

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        user = current_user(request)
        plan = get_object_or_404(self.get_queryset(), pk=pk)
        tasks = InspectionTask.objects.for_user(user).filter(plan=plan)
        counts = selectors.status_counts(tasks)
        shown = selectors.filter_tasks(tasks, request.GET, user).select_related("institution", "assignee")
        page = Paginator(shown, 50).get_page(request.GET.get("page"))
        template = current_template(plan.template_code)
        can_change = user.has_perm("inspections.change_inspectionplan") and (
            InspectionPlan.objects.for_user(user, "change").filter(pk=plan.pk).exists()
        )
        context = {
            "plan": plan,
            "template": template,
            "listed": plan.institutions.order_by("region_path", "name")[:50],
            "listed_count": plan.institutions.count(),
            "kind_labels": [
                Institution.Kind(k).label for k in plan.institution_kinds if k in Institution.Kind.values
            ],
            "counts": counts,
            "page_obj": page,
            "tasks": page.object_list,
            "status_choices": InspectionTask.Status.choices,
            "can_change": can_change,
            "can_assign": user.has_perm("inspections.change_inspectiontask"),
            "today": timezone.localdate(),
        }
        return render(request, "inspections/plan_detail.html", context)


class PlanActionView(ScopedViewMixin, View):
    """POST "generate now" or "stop" on a plan (planners)."""

    model = InspectionPlan
    scope_action = "change"
    http_method_names: ClassVar[list[str]] = ["post"]  # type: ignore[misc]
    action: ClassVar[str] = ""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        user = current_user(request)
        plan = get_object_or_404(self.get_queryset(), pk=pk)
        try:
            if self.action == "generate":
                made = services.generate_now(user, plan, request=request)
                messages.success(request, _("%(n)d tasks made.") % {"n": made})
            else:
                services.deactivate(user, plan, request=request)
                messages.success(request, _("The plan is stopped; its open tasks not started are cancelled."))
        except DomainError as exc:
            messages.error(request, exc.message)
        return redirect("inspections:plan_detail", pk=plan.pk)


# --- tasks ---------------------------------------------------------------------------------------------------------


def _task_rows(qs: QuerySet[InspectionTask]) -> QuerySet[InspectionTask]:
    return qs.select_related("institution", "plan", "assignee")


class TaskListView(ScopedViewMixin, ListView):
    """Tasks in scope with filters (`selectors.filter_tasks`), by due day, 50 a page."""

    model = InspectionTask
    template_name = "inspections/task_list.html"
    paginate_by = 50
    mine: ClassVar[bool] = False

    def get_queryset(self) -> QuerySet[InspectionTask]:
        user = current_user(self.request)
        qs = _task_rows(super().get_queryset())
        if self.mine:
            todo = Case(When(status__in=TODO, then=Value(0)), default=Value(1), output_field=IntegerField())
            return selectors.my_tasks(qs, user).annotate(todo=todo).order_by("todo", "due_on", "id")
        return selectors.filter_tasks(qs, self.request.GET, user)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        plan_id = self.request.GET.get("plan", "")
        context.update(
            mine=self.mine,
            today=timezone.localdate(),
            counties=Region.objects.for_user(user).filter(level=Region.Level.COUNTY).order_by("region_path"),
            plan=InspectionPlan.objects.for_user(user).filter(pk=plan_id).first()
            if plan_id.isdigit()
            else None,
            status_choices=InspectionTask.Status.choices,
            kind_choices=Kind.choices,
            can_assign=user.has_perm("inspections.change_inspectiontask"),
        )
        return context


class TaskDetailView(ScopedViewMixin, View):
    """One task: its plan, institution, period, due day, assignee, and the inspection made for it."""

    model = InspectionTask

    def get_queryset(self) -> QuerySet[InspectionTask]:
        return super().get_queryset().select_related("institution__region", "plan", "assignee")

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        user = current_user(request)
        task = get_object_or_404(self.get_queryset(), pk=pk)
        inspection = Inspection.objects.for_user(user).filter(task=task).first()
        can_start = task.status in TODO and inspection is None and (
            task.assignee_id == user.pk or (task.kind == Kind.SELF and user.institution_id == task.institution_id)
            or (task.assignee_id is None and execution.performer_problem(user, task.institution, task.kind) is None)
        )  # fmt: skip
        context = {
            "task": task,
            "inspection": inspection,
            "can_start": can_start,
            "can_assign": user.has_perm("inspections.change_inspectiontask")
            and InspectionTask.objects.for_user(user, "change").filter(pk=task.pk).exists(),
            "today": timezone.localdate(),
        }
        return render(request, "inspections/task_detail.html", context)


class TaskAssignView(ScopedViewMixin, View):
    """Assign or reassign a task (`services.assign`); the people automatic assignment would consider are
    listed with their tasks due that day. A refusal says why and changes nothing."""

    model = InspectionTask
    scope_action = "change"

    def get_queryset(self) -> QuerySet[InspectionTask]:
        return super().get_queryset().select_related("institution", "plan", "assignee")

    def _render(
        self, request: HttpRequest, task: InspectionTask, form: AssignForm, status: int = 200
    ) -> HttpResponse:
        context = {
            "task": task,
            "form": form,
            "candidates": self._candidates(task),
            "cap": settings.INSPECTION_DAILY_CAP,
        }
        return render(request, "inspections/task_assign.html", context, status=status)

    def _candidates(self, task: InspectionTask) -> list[tuple[Any, int]]:
        """Automatic assignment's candidates, as far as the signed-in user's directory shows them."""
        found = services.candidates(task)
        visible = set(
            User.objects.for_user(current_user(self.request))
            .filter(pk__in=[p.pk for p, _n in found])
            .values_list("pk", flat=True)
        )
        return [(p, n) for p, n in found if p.pk in visible]

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        task = get_object_or_404(self.get_queryset(), pk=pk)
        form = AssignForm(actor=current_user(request), initial={"user": task.assignee_id})
        return self._render(request, task, form)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        user = current_user(request)
        task = get_object_or_404(self.get_queryset(), pk=pk)
        form = AssignForm(request.POST, actor=user)
        if not form.is_valid():
            return self._render(request, task, form, status=400)
        try:
            services.assign(user, task, form.cleaned_data["user"], request=request)
        except DomainError as exc:
            add_refusal(form, exc)
            return self._render(request, task, form, status=400)
        messages.success(request, _("Saved."))
        return redirect("inspections:task_detail", pk=task.pk)
