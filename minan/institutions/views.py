from typing import Any

from django.db.models import Q
from django.views.generic import DetailView, ListView

from minan.core.views import ScopedViewMixin

from .models import Institution


class InstitutionListView(ScopedViewMixin, ListView):
    model = Institution
    template_name = "institutions/institution_list.html"
    paginate_by = 50

    def get_queryset(self) -> Any:
        qs = super().get_queryset().select_related("region")
        params = self.request.GET
        if q := params.get("q", "").strip()[:50]:
            qs = qs.filter(Q(name__icontains=q) | Q(uscc__iexact=q) | Q(address__icontains=q))
        if (kind := params.get("kind")) in Institution.Kind.values:
            qs = qs.filter(kind=kind)
        if (region := params.get("region", "").strip()).isdigit():
            qs = qs.filter(region_path__contains=f"{region}/")
        return qs

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["kind_choices"] = Institution.Kind.choices
        return context


class InstitutionDetailView(ScopedViewMixin, DetailView):
    model = Institution
    template_name = "institutions/institution_detail.html"
