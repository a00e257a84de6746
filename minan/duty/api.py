from typing import Any

from rest_framework import mixins, serializers

from minan.core.api import ScopedViewSet

from .models import DutyAssignment


class DutyAssignmentSerializer(serializers.ModelSerializer):
    cadre_name = serializers.CharField(source="cadre.display_name", read_only=True)

    class Meta:
        model = DutyAssignment
        fields = ["id", "institution", "cadre", "cadre_name", "starts_on", "ends_on", "active", "end_reason"]


class DutyAssignmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """包保 assignments inside your scope (history included). Filters: `institution`, `cadre`, `active`."""

    queryset = DutyAssignment.objects.all()
    serializer_class = DutyAssignmentSerializer

    def refine_queryset(self, queryset: Any) -> Any:
        params = self.request.query_params
        qs = queryset.select_related("cadre")
        if (institution := params.get("institution", "")).isdigit():
            qs = qs.filter(institution_id=int(institution))
        if (cadre := params.get("cadre", "")).isdigit():
            qs = qs.filter(cadre_id=int(cadre))
        if params.get("active") in {"0", "1"}:
            qs = qs.filter(active=params["active"] == "1")
        return qs
