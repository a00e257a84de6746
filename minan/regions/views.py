from typing import Any

from django.db.models import Q
from django.views.generic import DetailView, ListView

from minan.core import panels
from minan.core.views import ScopedViewMixin

from .models import Region


class RegionListView(ScopedViewMixin, ListView):
    """The region tree inside the user's scope, as an indented list."""

    model = Region
    template_name = "regions/region_list.html"
    paginate_by = 200

    def get_queryset(self) -> Any:
        qs = super().get_queryset().select_related("parent")
        if q := self.request.GET.get("q", "").strip()[:30]:
            qs = qs.filter(Q(name__icontains=q) | Q(code__startswith=q))
        if (level := self.request.GET.get("level")) in Region.Level.values:
            qs = qs.filter(level=level)
        return qs


class RegionDetailView(ScopedViewMixin, DetailView):
    model = Region
    template_name = "regions/region_detail.html"
    slug_field = "code"
    slug_url_kwarg = "code"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        region = self.object
        user = self.request.user
        context["children"] = Region.objects.for_user(user).filter(parent=region)
        # What other apps count in this region (institutions by kind, …) comes from their panels.
        context["panel_templates"], shown = panels.region_panels(user, region)
        context.update(shown)
        return context
