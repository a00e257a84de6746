from typing import Any

from rest_framework import mixins, serializers

from minan.core.api import ScopedViewSet
from minan.regions.models import Region

from .models import Institution


class InstitutionSerializer(serializers.ModelSerializer):
    region: serializers.SlugRelatedField[Region] = serializers.SlugRelatedField(
        slug_field="code", read_only=True
    )

    class Meta:
        model = Institution
        fields = ["id", "name", "kind", "region", "uscc", "address", "beds", "status"]


class InstitutionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Institutions inside your scope. Filters: `kind`, `region` (code), `q`."""

    queryset = Institution.objects.all()
    serializer_class = InstitutionSerializer

    def refine_queryset(self, queryset: Any) -> Any:
        params = self.request.query_params
        qs = queryset.select_related("region")
        if kind := params.get("kind"):
            qs = qs.filter(kind=kind)
        if (region := params.get("region", "")).isdigit():
            qs = qs.filter(region_path__contains=f"{region}/")
        if q := params.get("q", "").strip()[:50]:
            qs = qs.filter(name__icontains=q)
        return qs
