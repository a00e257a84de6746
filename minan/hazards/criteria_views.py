"""The criteria catalogue (DOMAIN.md §5.3): every criteria set with its clauses and how complete it is."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Count, Prefetch
from django.views.generic import TemplateView

from minan.core.views import PermissionPageMixin

from .models import Clause, CriteriaSet


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
            .prefetch_related(Prefetch("clauses", queryset=Clause.objects.order_by("order", "key")))
            .order_by("-active", "code")
        )
        return context
