from typing import Any

from django.db.models import Q
from rest_framework import mixins, serializers

from minan.core.api import ScopedViewSet

from .models import Region


class RegionSerializer(serializers.ModelSerializer):
    parent: serializers.SlugRelatedField[Region] = serializers.SlugRelatedField(  # type: ignore[assignment]
        slug_field="code", read_only=True, allow_null=True
    )

    class Meta:
        model = Region
        fields = ["code", "name", "level", "parent", "statutory", "note", "active", "region_path"]


class RegionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Regions inside your scope. Filters: `level`, `parent` (code), `q` (name or code prefix)."""

    queryset = Region.objects.all()
    serializer_class = RegionSerializer
    lookup_field = "code"

    def refine_queryset(self, queryset: Any) -> Any:
        params = self.request.query_params
        qs = queryset.select_related("parent")
        if level := params.get("level"):
            qs = qs.filter(level=level)
        if parent := params.get("parent"):
            qs = qs.filter(parent__code=parent)
        if q := params.get("q", "").strip()[:30]:
            qs = qs.filter(Q(name__icontains=q) | Q(code__startswith=q))
        return qs
