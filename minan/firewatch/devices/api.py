"""`/api/v1/devices/`: the device registry (消防设备) inside the caller's scope.

GET lists (the filters of the registry page) and retrieves; POST registers, PATCH changes (and `active`
retires or reactivates) — through `devices`. `POST /devices/{id}/credential/` issues a push token and
returns it once; `DELETE` revokes it. `POST /devices/{id}/maintenance/` sets the maintenance window,
`DELETE` ends it (`firewatch.silence_device`). Refusals are the structured errors of `core.api`; a device
outside the scope is 404.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from minan.core.api import ScopedViewSet
from minan.core.api_dates import InstantField
from minan.core.api_fields import IdField, Int64Field
from minan.core.views import current_user
from minan.firewatch.models import Device, UnregisteredSender
from minan.institutions.models import Institution

from . import selectors, services

FILTERS = [
    OpenApiParameter("institution", int, description="institution id"),
    OpenApiParameter("type", str, enum=Device.Type.values),
    OpenApiParameter("protocol", str, enum=Device.Protocol.values),
    OpenApiParameter("status", str, enum=Device.Status.values),
    OpenApiParameter("maintenance", str, enum=["1"], description="in a maintenance window now"),
    OpenApiParameter("active", str, enum=["0", "1"], description="in service"),
    OpenApiParameter("q", str, description="name or serial contains"),
]


class DeviceSerializer(serializers.ModelSerializer):
    institution_name = serializers.CharField(source="institution.name", read_only=True)
    in_maintenance = serializers.SerializerMethodField()
    has_credential = serializers.SerializerMethodField()

    class Meta:
        model = Device
        fields = [
            "id", "institution", "institution_name", "type", "name", "building", "floor", "room", "vendor",
            "protocol", "serial", "gb_address", "gb_component", "panel", "heartbeat_seconds", "grace_seconds",
            "thresholds", "maintenance_from", "maintenance_until", "maintenance_reason", "in_maintenance", "status",
            "last_signal_at", "active", "has_credential", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_in_maintenance(self, obj: Device) -> bool:
        return services.in_maintenance_now(obj)

    def get_has_credential(self, obj: Device) -> bool:
        return services.has_credential(obj)


class DeviceWriteSerializer(serializers.Serializer):
    """Shapes only; the rules (and their messages) are `services.problems`."""

    institution = IdField(required=False, help_text="institution id (inside your scope)")
    type = serializers.CharField(required=False)
    name = serializers.CharField(required=False, allow_blank=True)
    building = serializers.CharField(required=False, allow_blank=True)
    floor = serializers.CharField(required=False, allow_blank=True)
    room = serializers.CharField(required=False, allow_blank=True)
    vendor = serializers.CharField(required=False, allow_blank=True)
    protocol = serializers.CharField(required=False)
    serial = serializers.CharField(required=False, allow_blank=True)
    gb_address = Int64Field(required=False, allow_null=True)
    gb_component = serializers.CharField(required=False, allow_blank=True)
    panel = IdField(required=False, allow_null=True, help_text="id of a panel device")
    heartbeat_seconds = Int64Field(required=False)
    grace_seconds = Int64Field(required=False)
    thresholds = serializers.JSONField(required=False)
    active = serializers.BooleanField(
        required=False, help_text="false retires the device, true reactivates it"
    )


class MaintenanceSerializer(serializers.Serializer):
    start = InstantField(required=False, allow_null=True, help_text="default: now")
    end = InstantField()
    reason = serializers.CharField(max_length=200)


TOKEN_RESPONSE = inline_serializer(
    "DeviceToken", {"token": serializers.CharField(), "serial": serializers.CharField()}
)


@extend_schema_view(list=extend_schema(parameters=FILTERS))
class DeviceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    queryset = Device.objects.all()
    serializer_class = DeviceSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    # The maintenance window is institution staff's business too (they hold silence_device, not change).
    action_scope: ClassVar[dict[str, str]] = {"credential": "change", "maintenance": "view"}

    def refine_queryset(self, queryset: Any) -> Any:
        qs = queryset.select_related("institution").order_by("institution__name", "name", "id")
        return selectors.filter_devices(qs, self.request.query_params) if self.action == "list" else qs

    def _values(
        self, request: Request, data: dict[str, Any], institution: Institution | None
    ) -> dict[str, Any]:
        user = current_user(request)
        values = dict(data)
        values.pop("active", None)
        values.pop("institution", None)
        if "panel" in values:
            pk = values["panel"]
            values["panel"] = Device.objects.for_user(user).filter(pk=pk).first() if pk else None
            if pk and values["panel"] is None:
                raise services.DeviceInvalid(
                    [("panel", _("Choose a fire-alarm control panel of the same institution."))]
                )
        return values

    def _institution(self, request: Request, pk: int | None) -> Institution:
        found = Institution.objects.for_user(current_user(request)).filter(pk=pk).first() if pk else None
        if found is None:
            raise services.DeviceInvalid([("institution", _("Choose an institution in your scope."))])
        return found

    @extend_schema(request=DeviceWriteSerializer, responses={201: DeviceSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = DeviceWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        institution = self._institution(request, data.validated_data.get("institution"))
        values = self._values(request, data.validated_data, institution)
        device = services.create_device(current_user(request), institution, request=request, **values)
        return Response(DeviceSerializer(device).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DeviceWriteSerializer, responses=DeviceSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        target = self.get_object()
        user = current_user(request)
        data = DeviceWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        validated = dict(data.validated_data)
        values = self._values(request, validated, None)
        if "institution" in validated:
            values["institution"] = self._institution(request, validated["institution"])
        if values:
            target = services.update_device(user, target, request=request, **values)
        if validated.get("active") is False:
            target = services.retire(user, target, request=request)
        elif validated.get("active") is True:
            target = services.reactivate(user, target, request=request)
        return Response(DeviceSerializer(target).data)

    @extend_schema(methods=["POST"], request=None, responses={201: TOKEN_RESPONSE})
    @extend_schema(methods=["DELETE"], request=None, responses={204: None})
    @action(detail=True, methods=["post", "delete"])
    def credential(self, request: Request, pk: str) -> Response:
        """POST: a new push token (replacing any old one), returned this once only. DELETE: revoke it."""
        device = self.get_object()
        user = current_user(request)
        if request.method == "DELETE":
            services.revoke(user, device, request=request)
            return Response(status=status.HTTP_204_NO_CONTENT)
        token = services.issue(user, device, request=request)
        response = Response({"token": token, "serial": device.serial}, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "private, no-store"
        return response

    @extend_schema(methods=["POST"], request=MaintenanceSerializer, responses=DeviceSerializer)
    @extend_schema(methods=["DELETE"], request=None, responses=DeviceSerializer)
    @action(detail=True, methods=["post", "delete"])
    def maintenance(self, request: Request, pk: str) -> Response:
        """POST {start?, end, reason}: set the maintenance window. DELETE: end it."""
        device = self.get_object()
        user = current_user(request)
        if request.method == "DELETE":
            device = services.clear_maintenance(user, device, request=request)
            return Response(DeviceSerializer(device).data)
        data = MaintenanceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        device = services.set_maintenance(
            user, device, v.get("start"), v["end"], v["reason"], request=request
        )
        return Response(DeviceSerializer(device).data)


class UnregisteredSenderSerializer(serializers.ModelSerializer):
    answer_label = serializers.CharField(source="get_answer_display", read_only=True)

    class Meta:
        model = UnregisteredSender
        fields = [
            "id",
            "gb_address",
            "peer",
            "answer",
            "answer_label",
            "frames",
            "first_seen_at",
            "last_seen_at",
        ]
        read_only_fields = fields


class UnregisteredSenderViewSet(mixins.ListModelMixin, ScopedViewSet):
    """`/api/v1/unregistered-senders/`: GB/T 26875.3 addresses that sent frames with no device registered
    there (not acted on), newest first; one drops off the list once a device is registered at its
    address."""

    queryset = UnregisteredSender.objects.all()
    serializer_class = UnregisteredSenderSerializer

    def refine_queryset(self, queryset: Any) -> Any:
        return selectors.still_unregistered(queryset)
