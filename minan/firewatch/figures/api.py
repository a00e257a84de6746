"""`/api/v1/firewatch-figures/`: the fire-monitoring figures per county of the scope (same as the page)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from minan.core.api import ScopedViewSet
from minan.core.views import current_user
from minan.firewatch.models import Alarm

from . import selectors


class CountyFiguresSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="county code; '' for the total")
    name = serializers.CharField()
    devices = serializers.IntegerField(help_text="devices in service")
    online = serializers.IntegerField()
    online_rate = serializers.FloatField(allow_null=True, help_text="online / devices, percent")
    alarms = serializers.IntegerField(help_text="alarms raised in the period")
    alarms_per_100 = serializers.FloatField(allow_null=True, help_text="alarms × 100 / devices")
    fire_closed = serializers.IntegerField(help_text="fire alarms raised in the period and closed")
    fire_false = serializers.IntegerField(help_text="of them, classified false alarm")
    false_alarm_rate = serializers.FloatField(allow_null=True, help_text="fire_false / fire_closed, percent")
    fire_acknowledged = serializers.IntegerField()
    mean_ack_minutes = serializers.FloatField(
        allow_null=True, help_text="mean minutes to acknowledge a fire alarm"
    )


@extend_schema_serializer(many=False)
class FirewatchFiguresSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    total = CountyFiguresSerializer()
    counties = CountyFiguresSerializer(many=True)


class FirewatchFiguresViewSet(ScopedViewSet):
    """Fire-monitoring figures per county of your scope for the period `from`–`to` (local dates, both
    included; default the last 30 days): online rate, alarms per 100 devices, false-alarm rate and mean
    time to acknowledge fire alarms, with a total. A malformed date answers 400 (`invalid_date`)."""

    queryset = Alarm.objects.all()
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="first day (default: 29 days ago)"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="last day (default: today)"),
        ],
        responses={200: FirewatchFiguresSerializer},
    )
    def list(self, request: Request) -> Response:
        date_from, date_to = selectors.parse_period(request.query_params, timezone.localdate())
        report = selectors.figures(current_user(request), date_from, date_to)
        return Response(FirewatchFiguresSerializer(report).data)
