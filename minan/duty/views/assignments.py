"""包保 assignments: the coverage page with its bulk assignment, and assignments from an xlsx file."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View
from django.views.generic import TemplateView

from minan.accounts.models import User
from minan.core.errors import DomainError
from minan.core.export import XLSX
from minan.core.limits import parse_int64
from minan.core.views import ScopedViewMixin, current_user
from minan.core.xlsx import ImportRefused, error_table
from minan.institutions.models import Institution

from .. import importer, selectors, services
from ..forms import AssignmentImportForm
from ..models import DutyAssignment


class CoverageView(ScopedViewMixin, TemplateView):
    """包保 coverage: institutions without a cadre, cadres above the load limit, coverage per county.

    Every figure comes from the scoped selectors in `duty.selectors`."""

    model = DutyAssignment
    template_name = "duty/coverage.html"
    scope_action = "view"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        user = current_user(self.request)
        limit = selectors.max_load()
        loads = list(selectors.cadre_loads(user))
        context.update(
            unassigned=selectors.unassigned(user)
            .select_related("region")
            .order_by("region_path", "name")[:300],
            unassigned_count=selectors.unassigned(user).count(),
            loads=loads,
            overloaded=[c for c in loads if c.load > limit],
            limit=limit,
            by_county=selectors.coverage_by_county(user),
            cadres=User.objects.for_user(user).filter(role_grants__role="cadre", is_active=True),
            can_assign=user.has_perm("duty.add_dutyassignment"),
        )
        return context

    def post(self, request: HttpRequest) -> HttpResponse:
        """Bulk assignment: the chosen institutions (in scope) all get the chosen cadre, all or nothing."""
        actor = current_user(request)
        # parse_int64: an id of 64 bits ("²" is a digit to isdigit(), 20 digits overflow the driver).
        ids = [n for v in request.POST.getlist("institutions") if (n := parse_int64(v)) is not None][:500]
        chosen = list(Institution.objects.for_user(actor, "change").filter(pk__in=ids))
        cadre_id = parse_int64(request.POST.get("cadre", "")) or 0
        cadre = User.objects.for_user(actor).filter(pk=cadre_id).first()
        if not chosen or cadre is None or len(chosen) != len(set(ids)):
            messages.error(request, _("Choose institutions and a cadre inside your scope."))
            return redirect("duty:coverage")
        try:
            count = services.bulk_assign(actor, chosen, cadre, request=request)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                _("%(name)s is now responsible for %(n)d institutions.")
                % {"name": cadre.display_name, "n": count},
            )
        return redirect("duty:coverage")


# --- assignments from xlsx ----------------------------------------------------------------------------------


class AssignmentImportView(ScopedViewMixin, View):
    model = DutyAssignment
    scope_action = "add"

    def get(self, request: HttpRequest) -> HttpResponse:
        if request.GET.get("template"):
            response = HttpResponse(importer.template_bytes(current_user(request)), content_type=XLSX)
            response["Content-Disposition"] = 'attachment; filename="duty-assignments-template.xlsx"'
            return response
        return render(request, "duty/import.html", {"form": AssignmentImportForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = AssignmentImportForm(request.POST, request.FILES)
        context: dict[str, Any] = {"form": form}
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                outcome = importer.import_assignments(
                    current_user(request), upload, upload.name, request=request
                )
            except ImportRefused as exc:
                context.update(problem=exc.message, **error_table(exc.errors))
            except DomainError as exc:
                context.update(problem=exc.message)
            else:
                messages.success(
                    request,
                    _("%(assigned)d assignments made, %(unchanged)d already in place.")
                    % {"assigned": outcome.assigned, "unchanged": outcome.unchanged},
                )
                return redirect("duty:coverage")
        return render(request, "duty/import.html", context)
