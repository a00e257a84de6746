from typing import Any

from django.views.generic import TemplateView

from minan.core.views import ScopedViewMixin, current_user

from . import selectors
from .models import DutyAssignment


class CoverageView(ScopedViewMixin, TemplateView):
    """包保 coverage: institutions without a cadre, cadres above the load limit, coverage per county.

    Every figure comes from the scoped selectors in `duty.selectors`."""

    model = DutyAssignment
    template_name = "duty/coverage.html"

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
        )
        return context
