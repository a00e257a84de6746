from typing import Any

from rest_framework import mixins, serializers

from minan.core.api import ScopedViewSet

from .models import AuditEvent
from .views import filter_events


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "at",
            "username",
            "ip",
            "action",
            "object_type",
            "object_id",
            "result",
            "changes",
            "detail",
            "prev_hash",
            "hash",
        ]


class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """The audit trail (audit administrator only). Filters: user, action, result, object_type, ip, from, to."""

    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer

    def refine_queryset(self, queryset: Any) -> Any:
        qs, _errors = filter_events(queryset, self.request.query_params)
        return qs
