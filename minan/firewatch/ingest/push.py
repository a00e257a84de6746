"""HTTP push: `POST /api/v1/ingest/signals/` for vendor platforms and devices.

One request carries one device's signals: `{"device": "<serial>", "signals": [{type, code, value,
unit, timestamp, message_id}, ...]}` (at most `MAX_SIGNALS`, body at most `MAX_BODY_BYTES`, else 413).
The device proves itself with the token issued to it (`device_services.issue`), either as
`Authorization: Bearer <token>` or as `X-MinAn-Device: <serial>` + `X-MinAn-Signature: sha256=<hex>`,
the HMAC-SHA256 of the raw body keyed by the token. An unknown serial and a wrong token answer the same
401 (the endpoint does not tell which serials exist); a device out of service answers 403, only once it
has proved itself. Every signal is parsed before anything is written: one invalid signal refuses the
batch (400 naming its index and field). The batch is recorded in one transaction
(`Recorder.record`), idempotent by `message_id`: a resent batch stores nothing new and says so per
signal.

No session, no CSRF, no throttle, no audit: the caller is a machine that holds a per-device secret, not a
browser carrying a cookie (CSRF protects cookie-authenticated browsers, and there is no cookie here), and
signals are machine input, not user actions (docs/firewatch.md). The handler costs one query for the
device plus what `record_signals` needs, however many signals the batch has.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any, ClassVar

from django.db import DatabaseError
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from minan.core import limits
from minan.firewatch.devices import services as device_services
from minan.firewatch.models import Device

from .recorder import MAX_BATCH, BadSignal, DeviceKey, Incoming, Recorder, parse_signal
from .services import SignalIn

log = logging.getLogger("minan.ingest")

MAX_SIGNALS = MAX_BATCH  # 500
MAX_BODY_BYTES = 1024 * 1024
DEVICE_HEADER = "HTTP_X_MINAN_DEVICE"
SIGNATURE_HEADER = "HTTP_X_MINAN_SIGNATURE"


def _error(status: int, code: str, detail: str, **extra: Any) -> Response:
    return Response({"code": code, "detail": detail, **extra}, status=status)


def _unauthorized() -> Response:
    """The one answer for a missing credential, an unknown serial and a wrong token or signature."""
    response = _error(401, "unauthorized", _("Unknown device or wrong credentials."))
    response["WWW-Authenticate"] = 'Bearer realm="minan-ingest"'
    return response


def _bearer(request: Request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _sep, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _authenticated(device: Device | None, body: bytes, bearer: str | None, signature: str | None) -> bool:
    if device is None:
        # Spend about what a real check costs, so the answer's timing does not tell that the serial is unknown.
        hmac.compare_digest(device_services.sign("-", body), signature or bearer or "")
        return False
    if signature is not None:
        return device_services.check_signature(device, body, signature)
    return bearer is not None and device_services.check_bearer(device, bearer)


SIGNAL_FIELDS: dict[str, serializers.Field] = {
    "type": serializers.ChoiceField(choices=["heartbeat", "alarm", "fault", "restore", "reading", "event"]),
    "code": serializers.CharField(required=False, help_text="fire, gas, pressure, … (≤ 40)"),
    "value": serializers.CharField(required=False, help_text="a number or a string"),
    "unit": serializers.CharField(required=False),
    "timestamp": serializers.CharField(required=False, help_text="ISO 8601 or Unix seconds"),
    "message_id": serializers.CharField(required=False, help_text="unique per signal: resends are dropped"),
}


@method_decorator(csrf_exempt, name="dispatch")
class SignalPushView(APIView):
    """Signals pushed by a device or its vendor's platform (docs/firewatch.md, "HTTP push")."""

    # A machine endpoint: the per-device token is the credential (see the module docstring). Without
    # authentication classes DRF does no session lookup and enforces no CSRF; csrf_exempt says so for
    # Django's middleware too.
    authentication_classes: ClassVar[list[Any]] = []  # type: ignore[misc]
    permission_classes: ClassVar[list[Any]] = [AllowAny]  # type: ignore[misc]
    throttle_classes: ClassVar[list[Any]] = []  # type: ignore[misc]
    parser_classes: ClassVar[list[Any]] = [limits.JSONParser]  # type: ignore[misc]  # (the body is read raw, for the HMAC)
    scoped = False  # no scoped data is served: the device proves itself with its own token

    @extend_schema(
        operation_id="ingest_signals",
        request=inline_serializer(
            "SignalPush",
            {
                "device": serializers.CharField(),
                "signals": inline_serializer("PushedSignal", SIGNAL_FIELDS, many=True),
            },
        ),
        parameters=[
            OpenApiParameter(
                "X-MinAn-Device",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="the device's serial (with X-MinAn-Signature)",
            ),
            OpenApiParameter(
                "X-MinAn-Signature",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description="sha256=<hex HMAC-SHA256 of the raw body keyed by the token>",
            ),
        ],  # fmt: skip
        responses={
            200: inline_serializer(
                "SignalPushResult",
                {
                    "accepted": serializers.IntegerField(),
                    "duplicates": serializers.IntegerField(),
                    "results": inline_serializer(
                        "SignalPushItem",
                        {
                            "index": serializers.IntegerField(),
                            "message_id": serializers.CharField(allow_null=True),
                            "status": serializers.ChoiceField(choices=["stored", "duplicate", "heartbeat"]),
                            "alarm": serializers.IntegerField(required=False),
                        },
                        many=True,
                    ),
                },
            ),
            400: OpenApiResponse(description="invalid JSON or an invalid signal (index and field named)"),
            401: OpenApiResponse(description="unknown device or wrong token / signature"),
            403: OpenApiResponse(description="the device is out of service"),
            413: OpenApiResponse(description="body over 1 MB or more than 500 signals"),
        },
    )
    def post(self, request: Request) -> Response:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY_BYTES:
            return _error(413, "too_large", _("The body may be at most 1 MB."))
        body = request._request.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "too_large", _("The body may be at most 1 MB."))
        try:
            # The API's decoder: nesting depth and integers limited, so hostile JSON is a 400, not a 500.
            data = limits.loads(body)
        except limits.BodyRefused as refused:
            if refused.code == "parse_error":
                return _error(400, "invalid_json", _("The body must be a JSON object."))
            return _error(refused.status, refused.code, refused.message)
        if not isinstance(data, dict):
            return _error(400, "invalid_json", _("The body must be a JSON object."))

        header_serial = request.META.get(DEVICE_HEADER, "").strip()
        body_serial = data.get("device")
        body_serial = body_serial.strip() if isinstance(body_serial, str) else ""
        signature = request.META.get(SIGNATURE_HEADER)
        serial = header_serial or body_serial
        device = Device.objects.filter(serial=serial[:64]).first() if serial else None
        if not _authenticated(device, body, _bearer(request), signature):
            return _unauthorized()
        assert device is not None
        if body_serial and header_serial and body_serial != header_serial:
            return _error(
                400, "invalid", _("The device in the body differs from X-MinAn-Device."), field="device"
            )
        if not device.active:
            return _error(403, "inactive", _("This device is out of service."))

        raw = data.get("signals")
        if not isinstance(raw, list):
            return _error(400, "invalid", _("signals must be a list of signal objects."), field="signals")
        if len(raw) > MAX_SIGNALS:
            return _error(413, "too_many_signals",
                          _("At most %(n)d signals per request.") % {"n": MAX_SIGNALS})  # fmt: skip
        signals: list[SignalIn] = []
        for index, item in enumerate(raw):
            try:
                signals.append(parse_signal(item))
            except BadSignal as problem:
                return _error(
                    400,
                    "invalid_signal",
                    _("Signal %(index)d is invalid (%(field)s): %(problem)s")
                    % {"index": index, "field": problem.field, "problem": problem},
                    field=f"signals[{index}].{problem.field}",
                    details={"index": index, "field": problem.field},
                )

        key = DeviceKey(serial=device.serial)
        try:
            results = Recorder().record([Incoming(key, s) for s in signals])
        except DatabaseError:
            log.exception("HTTP push of %s: recording failed", device.serial)
            response = _error(503, "unavailable", _("The signals could not be recorded; send them again."))
            response["Retry-After"] = "5"
            return response
        if any(r.error for r in results):  # taken out of service between the check and the write
            return _error(403, "inactive", _("This device is out of service."))

        items: list[dict[str, Any]] = []
        duplicates = 0
        for index, (signal, result) in enumerate(zip(signals, results, strict=True)):
            outcome = result.outcome
            if outcome is not None and outcome.duplicate:
                status, duplicates = "duplicate", duplicates + 1
            elif signal.type == "heartbeat":
                status = "heartbeat"
            else:
                status = "stored"
            answer: dict[str, Any] = {"index": index, "message_id": signal.message_id, "status": status}
            if outcome is not None and outcome.alarm is not None:
                answer["alarm"] = outcome.alarm.pk
            items.append(answer)
        return Response({"accepted": len(signals) - duplicates, "duplicates": duplicates, "results": items})
