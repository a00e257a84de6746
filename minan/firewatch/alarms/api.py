"""`/api/v1/alarms/` (the history, with the same filters as the page; a detail has its events),
`POST {id}/acknowledge/`, `POST {id}/clear/`, `POST {id}/close/`, and `/api/v1/alarm-board/` for polling
clients.

Every read goes through `Alarm.objects.for_user` (ScopedViewSet): an alarm outside the scope is a 404.
Writes go through `services.acknowledge` / `clear` / `close`, which refuse with a structured 400 (`code`,
`detail`, `field`) and write nothing; without the permission the answer is 403 (audited).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import pgettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from minan.core.api import ScopedViewSet
from minan.core.audit.services import record_denial
from minan.core.views import current_user
from minan.firewatch.models import Alarm, AlarmEvent

from . import kinds, selectors, services


class AlarmEventSerializer(serializers.ModelSerializer):
    actor_name = serializers.CharField(
        source="actor.display_name", default=None, read_only=True, allow_null=True
    )
    action_label = serializers.SerializerMethodField()

    class Meta:
        model = AlarmEvent
        fields = ["id", "action", "action_label", "at", "actor", "actor_name", "data"]
        read_only_fields = fields

    def get_action_label(self, obj: AlarmEvent) -> str:
        return str(selectors.EVENT_LABELS.get(obj.action, obj.action))


class AlarmSerializer(serializers.ModelSerializer):
    kind_label = serializers.SerializerMethodField()
    # Plain strings, not enums (drf-spectacular would name a shared `SeverityEnum`/`ClassificationEnum`).
    severity = serializers.CharField(read_only=True, help_text=" | ".join(Alarm.Severity.values))
    classification = serializers.CharField(
        read_only=True, help_text=" | ".join(["", *Alarm.Classification.values])
    )
    state = serializers.SerializerMethodField(
        help_text="active_unack | active_ack | cleared_unack | cleared_ack | closed"
    )
    state_label = serializers.SerializerMethodField()
    institution_name = serializers.CharField(source="institution.name", read_only=True)
    device_name = serializers.CharField(source="device.name", read_only=True)
    device_serial = serializers.CharField(source="device.serial", read_only=True)
    location = serializers.SerializerMethodField()
    acknowledged_by_name = serializers.CharField(
        source="acknowledged_by.display_name", default=None, read_only=True, allow_null=True
    )
    cleared_by_name = serializers.CharField(
        source="cleared_by.display_name", default=None, read_only=True, allow_null=True
    )

    class Meta:
        model = Alarm
        fields = [
            "id", "kind", "kind_label", "severity", "state", "state_label", "institution", "institution_name",
            "device", "device_name", "device_serial", "location", "first_at", "last_at", "count", "detail",
            "acknowledged_at", "acknowledged_by", "acknowledged_by_name", "cleared_at", "cleared_by", "cleared_by_name",
            "closed_at", "closed_by",
            "classification", "close_detail", "escalation_step", "next_escalation_at", "hazard",
        ]  # fmt: skip
        read_only_fields = fields

    def get_kind_label(self, obj: Alarm) -> str:
        return kinds.alarm_label(obj.kind)

    def get_state(self, obj: Alarm) -> str:
        return "closed" if obj.closed_at else selectors.state_of(obj)

    def get_state_label(self, obj: Alarm) -> str:
        return pgettext("alarm state", "Closed") if obj.closed_at else selectors.state_label(obj)

    def get_location(self, obj: Alarm) -> str:
        return selectors.location(obj.device)


class AlarmDetailSerializer(AlarmSerializer):
    events = AlarmEventSerializer(many=True, read_only=True)

    class Meta(AlarmSerializer.Meta):
        fields = [*AlarmSerializer.Meta.fields, "events"]
        read_only_fields = fields


class AlarmCloseSerializer(serializers.Serializer):
    classification = serializers.CharField(
        required=False, allow_blank=True, default="", help_text=" | ".join(Alarm.Classification.values)
    )
    detail = serializers.DictField(
        required=False, default=dict,
        help_text="real: confirmed_at, called_119, called_119_at (if called), plan_started, casualties, losses; "
        "false: cause, repair_log; test: tested_by, maintenance_window; fault: description, maintenance_order",
    )  # fmt: skip
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)


FILTERS = [
    OpenApiParameter("institution", OpenApiTypes.INT),
    OpenApiParameter("county", OpenApiTypes.STR, description="county (or any region) code"),
    OpenApiParameter("kind", OpenApiTypes.STR, description="fire, fault, gas, offline, threshold:<code>…"),
    OpenApiParameter("severity", OpenApiTypes.STR, description=" | ".join(Alarm.Severity.values)),
    OpenApiParameter("state", OpenApiTypes.STR, description="open | closed"),
    OpenApiParameter("classification", OpenApiTypes.STR, description=" | ".join(Alarm.Classification.values)),
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="first signal on or after (local date)"),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="first signal on or before (local date)"),
]


class AlarmViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Alarms inside your scope, newest first (filters as on the history page). A detail has its
    events. `POST {id}/acknowledge/` stops the escalation; `POST {id}/clear/` marks the condition over
    (refused with `still_reported` while the device reports it); `POST {id}/close/` closes it with the GB 25201
    classification and its detail — refused (400, `field` names what is missing) without writing."""

    queryset = Alarm.objects.all()
    serializer_class = AlarmSerializer
    action_scope: ClassVar[dict[str, str]] = {"acknowledge": "view", "clear": "view", "close": "view"}

    def get_serializer_class(self) -> Any:
        return AlarmDetailSerializer if self.action == "retrieve" else AlarmSerializer

    def refine_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        qs = queryset.select_related("device", "institution", "acknowledged_by", "cleared_by")
        if self.action == "retrieve":
            qs = qs.prefetch_related(Prefetch("events", queryset=AlarmEvent.objects.select_related("actor")))
        return selectors.filter_alarms(qs, self.request.query_params).order_by("-first_at", "-id")

    @extend_schema(parameters=FILTERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    def _require(self, request: Request, perm: str) -> None:
        if not request.user.has_perm(perm):
            record_denial(f"{perm} {request.path}", request=request, object_type="firewatch.alarm")
            raise PermissionDenied

    def _fresh(self, alarm: Alarm) -> Response:
        fresh = self.get_queryset().prefetch_related(
            Prefetch("events", queryset=AlarmEvent.objects.select_related("actor"))
        )
        return Response(AlarmDetailSerializer(fresh.get(pk=alarm.pk)).data)

    @extend_schema(request=None, responses=AlarmDetailSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str) -> Response:
        alarm = self.get_object()
        self._require(request, "firewatch.acknowledge_alarm")
        services.acknowledge(current_user(request), alarm, request=request)
        return self._fresh(alarm)

    @extend_schema(request=None, responses=AlarmDetailSerializer)
    @action(detail=True, methods=["post"])
    def clear(self, request: Request, pk: str) -> Response:
        alarm = self.get_object()
        self._require(request, "firewatch.clear_alarm")
        services.clear(current_user(request), alarm, request=request)
        return self._fresh(alarm)

    @extend_schema(request=AlarmCloseSerializer, responses=AlarmDetailSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str) -> Response:
        alarm = self.get_object()
        self._require(request, "firewatch.close_alarm")
        data = AlarmCloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        services.close(
            current_user(request), alarm, values["classification"], dict(values.get("detail") or {}),
            note=values.get("note") or "", request=request,
        )  # fmt: skip
        return self._fresh(alarm)


class DeviceStatusSerializer(serializers.Serializer):
    institution = serializers.IntegerField(source="institution_id")
    name = serializers.CharField()
    total = serializers.IntegerField(help_text="devices in service")
    online = serializers.IntegerField()
    offline = serializers.IntegerField()
    unknown = serializers.IntegerField(help_text="never heard from")
    maintenance = serializers.IntegerField(help_text="inside their maintenance window now")


class BoardAlarmSerializer(AlarmSerializer):
    section = serializers.SerializerMethodField(help_text=" | ".join(selectors.SECTIONS))

    class Meta(AlarmSerializer.Meta):
        fields = [*AlarmSerializer.Meta.fields, "section"]
        read_only_fields = fields

    def get_section(self, obj: Alarm) -> str:
        return selectors.section_of(obj)


@extend_schema_serializer(many=False)
class AlarmBoardSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="send back as `since`: 204 while nothing has changed")
    alarms = BoardAlarmSerializer(
        many=True,
        help_text="open alarms in the board's order: unacknowledged (fire first, then by severity, the highest "
        "escalation step and the oldest first), then being handled (acknowledged, not cleared: by severity, "
        "oldest first), then restored and acknowledged (by severity, restored longest ago first)",
    )
    fire_unacknowledged = serializers.ListField(child=serializers.IntegerField())
    devices = DeviceStatusSerializer(many=True)


class AlarmBoardViewSet(ScopedViewSet):
    """The live board for polling clients: the open alarms in your scope in the board's order and
    sections (at most 200, the most urgent first), filtered like the page (`severity`, `state`: a
    section, `county`: a county code in your scope, another is ignored), and the device status per
    institution. `?since=<token>` answers 204 while nothing changed."""

    queryset = Alarm.objects.all()  # names the model for the permission check; rows come from for_user()
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter("since", OpenApiTypes.STR, description="the token of the last answer"),
            OpenApiParameter("severity", OpenApiTypes.STR, description=" | ".join(Alarm.Severity.values)),
            OpenApiParameter("state", OpenApiTypes.STR, description=" | ".join(selectors.SECTIONS)),
            OpenApiParameter("county", OpenApiTypes.STR, description="county code (in your scope)"),
        ],
        responses={200: AlarmBoardSerializer, 204: None},
    )
    def list(self, request: Request) -> Response:
        user = current_user(request)
        now = timezone.now()
        token = selectors.board_token(user, now)
        if request.query_params.get("since") == token:
            return Response(status=204)
        filters = selectors.board_filters(user, request.query_params)
        alarms = list(selectors.board_alarms(user, filters)[: selectors.BOARD_LIMIT])
        body = {
            "token": token,
            "alarms": alarms,
            "fire_unacknowledged": [a.pk for a in alarms if a.kind == "fire" and a.acknowledged_at is None],
            "devices": selectors.device_status(user, now),
        }
        return Response(AlarmBoardSerializer(body).data)
