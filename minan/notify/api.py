"""REST API of the notifications: the caller's own inbox and settings, the registered events, channels
(system administrators, scoped) and the delivery log. Every write goes through `notify.services`."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Prefetch
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, permissions, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from minan.core.api import BaseViewSet, ScopedPermission, ScopedViewSet
from minan.core.api_fields import IdField, Int64Field, ScopedModelSerializer, ScopedSlugRelatedField
from minan.core.errors import DomainError
from minan.core.views import current_user
from minan.regions.models import Region

from . import display, events, selectors, services
from .models import Channel, Delivery, DeliveryAttempt, Medium, Notification, Preference, UserSettings

# --- the caller's inbox -------------------------------------------------------------------------------------


class NotificationSerializer(serializers.ModelSerializer):
    event_label = serializers.SerializerMethodField()
    unread = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "event", "event_label", "urgency", "subject", "body", "link", "created_at", "read_at", "unread"]  # fmt: skip

    def get_event_label(self, obj: Notification) -> str:
        spec = events.EVENTS.get(obj.event)
        return str(spec.label) if spec else obj.event

    def get_unread(self, obj: Notification) -> bool:
        return obj.read_at is None


class MarkReadSerializer(serializers.Serializer):
    ids = serializers.ListField(child=IdField(), required=False, max_length=500)
    all = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("all") and not attrs.get("ids"):
            raise serializers.ValidationError({"ids": ['Give the ids to mark read, or "all": true.']})
        return attrs


@extend_schema(
    parameters=[
        OpenApiParameter("unread", OpenApiTypes.STR, description="1: unread notifications only"),
        OpenApiParameter("event", OpenApiTypes.STR, description="an event code (see notification-events)"),
    ]
)
class NotificationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BaseViewSet):
    """The caller's own notifications, newest first. Filters: `unread=1`, `event`. POST `mark-read/`
    with `{"ids": [...]}` or `{"all": true}` marks the caller's notifications read.

    Not scoped: an inbox is personal (read with recipient = the caller), not data of a region; another
    person's notification answers 404."""

    queryset = Notification.objects.none()  # names the model; rows come from get_queryset
    serializer_class = NotificationSerializer
    permission_classes: ClassVar[list[Any]] = [permissions.IsAuthenticated]  # type: ignore[misc]
    scoped: ClassVar[bool] = False

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Notification.objects.none()
        qs = Notification.objects.filter(recipient=current_user(self.request))
        params = self.request.query_params
        if params.get("unread") == "1":
            qs = qs.filter(read_at__isnull=True)
        if params.get("event", "") in events.EVENTS:
            qs = qs.filter(event=params["event"])
        return qs.order_by("-created_at", "-id")

    @extend_schema(
        request=MarkReadSerializer,
        responses=inline_serializer("MarkReadResult", {"marked": serializers.IntegerField()}),
    )
    @action(detail=False, methods=["post"], url_path="mark-read")
    def mark_read(self, request: Request) -> Response:
        data = MarkReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = current_user(request)
        if data.validated_data.get("all"):
            marked = services.mark_read(user)
        else:
            marked = services.mark_read(user, data.validated_data["ids"])
        return Response({"marked": marked})


# --- the caller's settings ------------------------------------------------------------------------------------


class PreferencesSerializer(serializers.Serializer):
    media = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField(max_length=10), max_length=5),
        help_text='Media in order per event code; "" is every event. `[]`: none (the inbox only); an '
        "event left out follows the every-event choice, then the defaults of the caller's roles.",
    )
    language = serializers.CharField(
        allow_blank=True, required=False, default="", help_text="a language code; empty: the site's"
    )
    quiet_from = serializers.TimeField(format="%H:%M", allow_null=True, required=False, default=None)
    quiet_until = serializers.TimeField(format="%H:%M", allow_null=True, required=False, default=None)


def _preferences(user: Any) -> dict[str, Any]:
    own = UserSettings.objects.filter(user=user).first()
    return PreferencesSerializer(
        {
            "media": {p.event: list(p.media) for p in Preference.objects.filter(user=user).order_by("event")},
            "language": own.language if own else "",
            "quiet_from": own.quiet_from if own else None,
            "quiet_until": own.quiet_until if own else None,
        }
    ).data


class NotificationPreferencesView(APIView):
    """The caller's own notification settings. PUT replaces them all (media per event, language, quiet
    hours: both ends or neither; urgent events ignore them). A refusal is a 400 with `field`.

    Not scoped: the caller's own settings, not data of a region."""

    permission_classes: ClassVar[list[Any]] = [permissions.IsAuthenticated]  # type: ignore[misc]
    scoped: ClassVar[bool] = False

    @extend_schema(responses=PreferencesSerializer)
    def get(self, request: Request) -> Response:
        return Response(_preferences(current_user(request)))

    @extend_schema(request=PreferencesSerializer, responses=PreferencesSerializer)
    def put(self, request: Request) -> Response:
        data = PreferencesSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        user = current_user(request)
        services.save_preferences(
            user, media=values["media"], language=values.get("language", ""), quiet_from=values.get("quiet_from"),
            quiet_until=values.get("quiet_until"), request=request,
        )  # fmt: skip
        return Response(_preferences(user))


class NotificationEventsView(APIView):
    """The registered events: code, label (in the request's language) and default urgency.

    Not scoped: reference data of the deployment."""

    permission_classes: ClassVar[list[Any]] = [permissions.IsAuthenticated]  # type: ignore[misc]
    scoped: ClassVar[bool] = False

    @extend_schema(
        responses=inline_serializer(
            "NotificationEvent",
            {
                "code": serializers.CharField(),
                "label": serializers.CharField(),
                "urgency": serializers.CharField(),
            },
            many=True,
        )
    )
    def get(self, request: Request) -> Response:
        return Response(
            [
                {"code": code, "label": label, "urgency": events.EVENTS[code].urgency}
                for code, label in events.choices()
            ]
        )


# --- channels ---------------------------------------------------------------------------------------------


class ChannelSerializer(serializers.ModelSerializer):
    region = serializers.SerializerMethodField()
    secret_masked = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = ["id", "name", "kind", "url", "region", "per_minute", "events", "active", "secret_masked", "paused_until", "created_at"]  # fmt: skip

    def get_region(self, obj: Channel) -> str:
        return display.region_code(obj.region_path)

    def get_secret_masked(self, obj: Channel) -> str:
        return display.secret_masked(obj)


class ChannelWriteSerializer(serializers.Serializer):
    """Input shape only; `services.save_channel` applies the rules (scope, address, limits, events)."""

    name = serializers.CharField(max_length=60)
    kind = serializers.ChoiceField(choices=Channel.Kind.choices)
    url = serializers.CharField(max_length=500)
    # Choices come through the scoping mechanism: an out-of-scope code reads as unknown.
    region = ScopedSlugRelatedField(slug_field="code", queryset=Region.objects.all())
    per_minute = Int64Field(default=20)
    events = serializers.ListField(child=serializers.CharField(max_length=60), default=list)
    active = serializers.BooleanField(default=True)
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        help_text='Left out: the stored secret is kept; "": it is removed. Never returned.',
    )


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["at", "ok", "status_code", "error", "latency_ms"]


class DeliverySerializer(ScopedModelSerializer):
    destination = serializers.SerializerMethodField()
    channel_name = serializers.SerializerMethodField()
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id", "status", "medium", "destination", "channel", "channel_name", "event", "urgency", "subject",
            "attempts", "last_error", "created_at", "next_attempt_at", "delivered_at", "attempt_log",
        ]  # fmt: skip

    def get_destination(self, obj: Delivery) -> str:
        return display.destination(obj)

    def get_channel_name(self, obj: Delivery) -> str:
        return obj.channel.name if obj.channel_id and obj.channel else ""


class ChannelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Notification channels inside your scope (system administrators). POST creates one, PATCH changes
    it; `secret` is write-only (left out: kept; "": removed) and shown only as `secret_masked`.
    POST `{id}/test/` sends a test message now and returns the delivery."""

    queryset = Channel.objects.all()
    serializer_class = ChannelSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    action_scope: ClassVar[dict[str, str]] = {"test": "change"}

    def _save(self, request: Request, channel: Channel | None) -> Channel:
        data = ChannelWriteSerializer(
            data=request.data, partial=channel is not None, context={"request": request}
        )
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = dict(data.validated_data)
        if channel is not None:  # PATCH keeps what it does not mention
            values = {**selectors.channel_values(channel), **values}
        if values.get("region") is None:
            raise serializers.ValidationError({"region": ["Choose a region inside your scope."]})
        return services.save_channel(
            current_user(request), channel, name=values["name"], kind=values["kind"], url=values["url"],
            region=values["region"], per_minute=values["per_minute"], events_subscribed=list(values["events"]),
            active=values["active"], secret=values.get("secret"), request=request,
        )  # fmt: skip

    @extend_schema(request=ChannelWriteSerializer, responses={201: ChannelSerializer})
    def create(self, request: Request) -> Response:
        channel = self._save(request, None)
        return Response(ChannelSerializer(channel).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ChannelWriteSerializer, responses=ChannelSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        return Response(ChannelSerializer(self._save(request, self.get_object())).data)

    @extend_schema(request=None, responses=DeliverySerializer)
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str) -> Response:
        channel = self.get_object()
        actor = current_user(request)
        if channel.kind == Channel.Kind.SMS and not actor.phone:
            raise DomainError(
                _("Your account has no mobile phone number to send the test SMS to."), field="phone"
            )
        delivery = services.send_test(actor, channel, request=request)
        fresh = Delivery.objects.select_related("channel").prefetch_related("attempt_log").get(pk=delivery.pk)
        return Response(DeliverySerializer(fresh).data)


# --- the delivery log ---------------------------------------------------------------------------------------


@extend_schema(
    parameters=[
        OpenApiParameter("status", OpenApiTypes.STR, enum=Delivery.Status.values),
        OpenApiParameter("medium", OpenApiTypes.STR, enum=Medium.values),
        OpenApiParameter("channel", OpenApiTypes.INT),
        OpenApiParameter("event", OpenApiTypes.STR),
    ]
)
class DeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, BaseViewSet):
    """The delivery log, newest first, each delivery with its attempts. Filters: `status`, `medium`,
    `channel`, `event`. Addresses are masked.

    Not scoped: a delivery belongs to a message and a medium, not to a region. Reading needs
    `notify.view_delivery` (system administrators); a refusal is audited by `ScopedPermission`."""

    queryset = Delivery.objects.all()  # names the model for the permission check
    serializer_class = DeliverySerializer
    permission_classes: ClassVar[list[Any]] = [permissions.IsAuthenticated, ScopedPermission]  # type: ignore[misc]
    scoped: ClassVar[bool] = False

    def scope_action_for(self, request: Request) -> str:
        return "view"

    def get_queryset(self) -> Any:
        qs = (
            Delivery.objects.select_related("channel")
            .defer("body", "channel__secret_encrypted")
            .prefetch_related(Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("at", "id")))
        )
        return selectors.filter_deliveries(qs, self.request.query_params)
