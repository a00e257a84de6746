"""The one view mixin that reads scoped data, and the home page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, NoReturn, cast

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView
from django.views.generic.detail import SingleObjectMixin

from minan.core import calendar, panels, selectors, services
from minan.core.audit.services import record_denial
from minan.core.errors import DomainError
from minan.core.forms import CalendarOverrideForm, CalendarYearForm
from minan.core.models import CalendarOverride, CalendarYear
from minan.core.scoping import permission_for

if TYPE_CHECKING:
    from minan.accounts.models import User


def current_user(request: HttpRequest) -> User:
    """The signed-in user (views behind LoginRequiredMixin / IsAuthenticated only)."""
    assert request.user.is_authenticated
    return cast("User", request.user)


def deny(request: HttpRequest, object_type: str, detail: str) -> NoReturn:
    """Refuse with 403 and record the refusal in the audit trail."""
    record_denial(detail, request=request, object_type=object_type)
    raise PermissionDenied


class PermissionPageMixin(LoginRequiredMixin):
    """Pages on rows that are not region data (reference lists, the delivery log, role defaults).

    Not scoped: `permission` decides who may open them, and a refusal is a 403 audited like
    `ScopedViewMixin`'s. Anything region-scoped such pages show must still be read through `for_user`."""

    scoped: ClassVar[bool] = False
    permission: ClassVar[str]
    object_type: ClassVar[str]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.user.is_authenticated and not request.user.has_perm(self.permission):
            deny(request, self.object_type, f"{self.permission} {request.path}")
        return super().dispatch(request, *args, **kwargs)


class ScopedViewMixin(LoginRequiredMixin):
    """Base of every HTML view that shows or changes scoped rows.

    `get_queryset()` reads only through `Model.objects.for_user(user, action)`, so an object outside
    the user's scope is a 404 like a missing one. A user whose roles lack the action gets 403, which
    is audited as a permission denial.
    """

    model: Any
    request: HttpRequest
    scope_action: ClassVar[str] = "view"
    scoped: ClassVar[bool] = True  # the generic route test looks for this

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.user.is_authenticated and not request.user.has_perm(
            permission_for(self.model, self.scope_action)
        ):
            deny(request, self.model._meta.label_lower, f"{self.scope_action} {request.path}")
        return super().dispatch(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Any]:
        return self.model.objects.for_user(self.request.user, self.scope_action)


class HomeView(LoginRequiredMixin, TemplateView):
    template_name = "core/home.html"
    scoped = True  # the panels apps register read only through their scoped selectors

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["calendar_warning"] = selectors.calendar_warning(self.request.user)
        context["panel_templates"], shown = panels.home_panels(self.request.user)
        context.update(shown)
        return context


class CalendarView(LoginRequiredMixin, TemplateView):
    """Working-day calendar: years the package covers, years entered by hand, and overrides.

    Not scoped: the calendar is national reference data; the permission decides who sees and edits it.
    """

    template_name = "core/calendar.html"
    scoped = False

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if request.user.is_authenticated and not request.user.has_perm("core.view_calendaroverride"):
            deny(request, "core.calendaroverride", f"view {request.path}")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        today = timezone.localdate()
        years = range(today.year - 1, today.year + 3)
        context.update(
            year_rows=[
                (y, calendar.package_covers(y), CalendarYear.objects.filter(year=y).first()) for y in years
            ],
            overrides=CalendarOverride.objects.filter(date__year__gte=today.year - 1).select_related(
                "entered_by"
            ),
            warning=calendar.missing_year_warning(today),
            year_form=kwargs.get("year_form") or CalendarYearForm(),
            override_form=kwargs.get("override_form") or CalendarOverrideForm(),
            can_edit=self.request.user.has_perm("core.change_calendaroverride"),
        )
        return context

    def post(self, request: HttpRequest) -> HttpResponse:
        action = request.POST.get("action")
        year_form, override_form = CalendarYearForm(), CalendarOverrideForm()
        try:
            if action == "load-year":
                year_form = CalendarYearForm(request.POST)
                if year_form.is_valid():
                    services.load_year(request.user, request=request, **year_form.cleaned_data)
                    messages.success(request, _("Saved."))
                    return redirect("core:calendar")
            elif action == "override":
                override_form = CalendarOverrideForm(request.POST)
                if override_form.is_valid():
                    services.set_override(
                        request.user,
                        request=request,
                        day=override_form.cleaned_data["date"],
                        is_workday=override_form.cleaned_data["is_workday"],
                        name=override_form.cleaned_data["name"],
                    )
                    messages.success(request, _("Saved."))
                    return redirect("core:calendar")
            elif action == "delete-override":
                entry = CalendarOverride.objects.filter(pk=request.POST.get("id") or 0).first()
                if entry is not None:
                    services.delete_override(request.user, entry, request=request)
                    messages.success(request, _("Deleted."))
                return redirect("core:calendar")
        except DomainError as exc:
            raise_to = year_form if action == "load-year" else override_form
            raise_to.add_error(None, exc.message)
        context = self.get_context_data(year_form=year_form, override_form=override_form)
        return self.render_to_response(context, status=400)


class ScopedActionView(ScopedViewMixin, SingleObjectMixin, View):
    """POST-only actions on one scoped object from its detail page.

    `perform()` calls one service per action; a refused action (DomainError) becomes an error message,
    and either way the user returns to `success_url()`.
    """

    scope_action = "change"
    http_method_names = ["post"]

    def perform(self, action: str, arg: str, target: Any, actor: User) -> None:
        raise NotImplementedError

    def success_url(self, target: Any, action: str) -> str:
        raise NotImplementedError

    def post(self, request: HttpRequest, pk: int, action: str, arg: str = "") -> HttpResponse:
        target = self.get_object()
        try:
            self.perform(action, arg, target, current_user(request))
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Saved."))
        return redirect(self.success_url(target, action))
