"""`/api/v1/hazard-metrics/`: the hazard figures of the caller's scope for a period (`selectors.figures`)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from minan.core.api import ScopedViewSet
from minan.core.views import current_user
from minan.hazards.models import Hazard

from . import selectors


class HazardOpenByLevelSerializer(serializers.Serializer):
    general = serializers.IntegerField(source="open_general")
    major = serializers.IntegerField(source="open_major")


class HazardZeroMajorSerializer(serializers.Serializer):
    cleared = serializers.BooleanField(source="zero_major", help_text="动态清零: no major hazard open")
    open_major = serializers.IntegerField()


class HazardFiguresSerializer(serializers.Serializer):
    open_by_level = HazardOpenByLevelSerializer(source="*", help_text="open now, by level")
    overdue = serializers.IntegerField(help_text="open now with a deadline before today")
    found = serializers.IntegerField(help_text="found in the period, cancelled ones left out")
    rectified = serializers.IntegerField(help_text="of `found`, now closed")
    rectification_rate = serializers.FloatField(allow_null=True, help_text="rectified / found, percent")
    closed = serializers.IntegerField(help_text="closed (销号) in the period")
    on_time_rate = serializers.FloatField(
        allow_null=True, help_text="of those closed with a deadline, accepted on or before it, percent"
    )
    avg_working_days_to_close = serializers.FloatField(
        allow_null=True, help_text="mean working days from the notice (or the finding) to the close-out"
    )
    reopen_rate = serializers.FloatField(
        allow_null=True, help_text="of those closed, reopened at least once, percent"
    )
    zero_major = HazardZeroMajorSerializer(source="*")


class HazardCountyFiguresSerializer(HazardFiguresSerializer):
    code = serializers.CharField()
    name = serializers.CharField()


class HazardInstitutionFiguresSerializer(HazardFiguresSerializer):
    id = serializers.IntegerField(source="institution_id")
    name = serializers.CharField()


@extend_schema_serializer(many=False)  # one object, although it answers the `list` action
class HazardMetricsSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    today = serializers.DateField()
    totals = HazardFiguresSerializer(source="total")
    counties = HazardCountyFiguresSerializer(many=True)
    institutions = HazardInstitutionFiguresSerializer(
        many=True, help_text=f"the {selectors.TOP_INSTITUTIONS} institutions with the most open hazards"
    )
    calendar_missing = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="years whose working-day calendar is not loaded (left out of the average working days)",
    )


ERROR = inline_serializer(
    "HazardMetricsError",
    {
        "code": serializers.CharField(help_text="`invalid_date` or `invalid_period`"),
        "detail": serializers.CharField(),
        "field": serializers.CharField(help_text="`from` or `to`"),
    },
)


class HazardMetricsViewSet(ScopedViewSet):
    """Hazard figures of your scope: open by level, overdue and 动态清零 now; found, rectification
    rate, on-time rate, average working days to close and reopen rate for the period `from`–`to`
    (local dates, both included; default 1 January to today). In total, per county and for the
    institutions with the most open hazards. A malformed date answers 400 (`invalid_date`, with
    `field`); a start after the end 400 (`invalid_period`)."""

    queryset = Hazard.objects.all()  # names the model for the permission check; rows come from for_user()
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="first day (default: 1 January)"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="last day (default: today)"),
        ],
        responses={200: HazardMetricsSerializer, 400: ERROR},
    )
    def list(self, request: Request) -> Response:
        today = timezone.localdate()
        date_from, date_to = selectors.parse_period(request.query_params, today)
        report = selectors.figures(current_user(request), date_from, date_to, today=today)
        return Response(HazardMetricsSerializer(report).data)
