from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from minan.accounts.models import User
from minan.core.errors import DomainError
from minan.core.views import ScopedViewMixin, current_user
from minan.institutions.models import Institution

from . import selectors, services
from .models import DutyAssignment


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
        ids = [int(v) for v in request.POST.getlist("institutions") if v.isdigit()][:500]
        chosen = list(Institution.objects.for_user(actor, "change").filter(pk__in=ids))
        cadre = User.objects.for_user(actor).filter(pk=request.POST.get("cadre") or 0).first()
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
