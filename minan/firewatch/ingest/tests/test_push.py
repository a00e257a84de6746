"""HTTP push: bearer and HMAC authentication, one answer for unknown devices and wrong tokens, whole
batches refused on one bad signal, idempotent resends, alarms, size limits and a bounded query count."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from minan.core.audit.models import AuditEvent
from minan.firewatch.devices import services as device_services
from minan.firewatch.ingest.push import MAX_BODY_BYTES
from minan.firewatch.models import Alarm, Device, Signal

pytestmark = pytest.mark.django_db
URL = "/api/v1/ingest/signals/"


def api() -> Any:
    return APIClient()  # typed loosely: the stubs want str bodies, a signature covers bytes


@pytest.fixture
def smoke(institutions: dict[str, Any]) -> Device:
    home = institutions["rc_elderly"]
    return Device.objects.create(institution=home, region_path=home.region_path, type="smoke",
                                 name="3F 走廊烟感", protocol="http", serial="S-1")  # fmt: skip


@pytest.fixture
def token(smoke: Device, city_office: Any) -> str:
    return device_services.issue(city_office, smoke)


def reading(n: int, **extra: Any) -> dict[str, Any]:
    return {"type": "reading", "code": "temperature", "value": 20 + n % 5, "unit": "℃",
            "timestamp": "2026-11-20T10:00:00+08:00", "message_id": f"m-{n}", **extra}  # fmt: skip


def push_bearer(token: str, payload: Any, serial: str = "S-1") -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps({"device": serial, **payload}).encode()
    return api().generic("POST", URL, body, content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {token}")  # fmt: skip


def push_signed(token: str, payload: dict[str, Any], serial: str = "S-1") -> Any:
    body = json.dumps(payload).encode()
    return api().generic("POST", URL, body, content_type="application/json", HTTP_X_MINAN_DEVICE=serial,
                               HTTP_X_MINAN_SIGNATURE=device_services.sign(token, body))  # fmt: skip


def test_bearer_push_records_the_signals_and_brings_the_device_online(smoke: Device, token: str) -> None:
    events_before = AuditEvent.objects.count()
    response = push_bearer(token, {"signals": [{"type": "heartbeat"}, reading(1), reading(2)]})
    assert response.status_code == 200, response.content
    assert response.json() == {
        "accepted": 3, "duplicates": 0,
        "results": [
            {"index": 0, "message_id": None, "status": "heartbeat"},
            {"index": 1, "message_id": "m-1", "status": "stored"},
            {"index": 2, "message_id": "m-2", "status": "stored"},
        ],
    }  # fmt: skip
    assert sorted(Signal.objects.values_list("message_id", "value")) == [("m-1", "21"), ("m-2", "22")]
    assert Device.objects.get(pk=smoke.pk).status == "online"
    assert AuditEvent.objects.count() == events_before  # machine input is not audited


def test_signed_push_works_and_the_signature_covers_the_body(smoke: Device, token: str) -> None:
    response = push_signed(token, {"signals": [reading(1)]})
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 1
    body = json.dumps({"signals": [reading(2)]}).encode()
    tampered = api().generic("POST", URL, body + b" ", content_type="application/json",
                                   HTTP_X_MINAN_DEVICE="S-1", HTTP_X_MINAN_SIGNATURE=device_services.sign(token, body))  # fmt: skip
    assert tampered.status_code == 401
    assert list(Signal.objects.values_list("message_id", flat=True)) == ["m-1"]


def test_unknown_serial_and_wrong_token_get_the_same_401_and_write_nothing(smoke: Device, token: str) -> None:
    payload = {"signals": [reading(1), {"type": "alarm", "code": "fire", "message_id": "f-1"}]}
    answers = [
        push_bearer("mnd_wrong", payload),
        push_bearer(token, payload, serial="NO-SUCH"),
        push_signed("mnd_wrong", payload),
        push_signed(token, payload, serial="NO-SUCH"),
        APIClient().post(URL, {"device": "S-1", **payload}, format="json"),  # no credential at all
    ]
    assert {a.status_code for a in answers} == {401}
    assert len({a.content for a in answers}) == 1
    assert answers[0].json()["code"] == "unauthorized"
    assert not Signal.objects.exists() and not Alarm.objects.exists()
    assert Device.objects.get(pk=smoke.pk).status == "unknown"


def test_a_device_out_of_service_is_refused_after_authentication(smoke: Device, token: str) -> None:
    Device.objects.filter(pk=smoke.pk).update(active=False)
    assert push_bearer(token, {"signals": [reading(1)]}).status_code == 403
    assert push_bearer("mnd_wrong", {"signals": [reading(1)]}).status_code == 401
    assert not Signal.objects.exists()


def test_one_bad_signal_refuses_the_batch_naming_index_and_field(smoke: Device, token: str) -> None:
    signals = [reading(0), reading(1), reading(2, timestamp="yesterday")]
    response = push_bearer(token, {"signals": signals})
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"], body["details"]) == (
        "invalid_signal", "signals[2].timestamp", {"index": 2, "field": "timestamp"},
    )  # fmt: skip
    assert "2" in body["detail"]
    bad_type = push_bearer(token, {"signals": [{"type": "explosion"}]}).json()
    assert bad_type["field"] == "signals[0].type"
    assert push_bearer(token, b"not json").status_code == 400
    assert push_bearer(token, {"signals": "all of them"}).json()["field"] == "signals"
    assert not Signal.objects.exists()
    assert Device.objects.get(pk=smoke.pk).status == "unknown"


def test_a_resent_batch_counts_duplicates_and_stores_nothing_new(smoke: Device, token: str) -> None:
    batch = {"signals": [reading(1), reading(2), {"type": "fault", "code": "dirty", "message_id": "x-1"}]}
    assert push_bearer(token, batch).json()["accepted"] == 3
    rows = Signal.objects.count()
    again = push_bearer(token, batch).json()
    assert (again["accepted"], again["duplicates"]) == (0, 3)
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 3
    assert Signal.objects.count() == rows == 3
    assert Alarm.objects.get().count == 1  # the resent fault is not a repeat


def test_a_fire_alarm_pushed_raises_an_alarm(smoke: Device, token: str) -> None:
    response = push_signed(token, {"signals": [{"type": "alarm", "code": "fire", "message_id": "f-1"}]})
    alarm = Alarm.objects.get()
    assert (alarm.device_id, alarm.kind, alarm.severity) == (smoke.pk, "fire", "critical")
    assert response.json()["results"] == [
        {"index": 0, "message_id": "f-1", "status": "stored", "alarm": alarm.pk}
    ]


def test_oversize_bodies_and_batches_are_refused_with_413(smoke: Device, token: str) -> None:
    padding = "x" * (MAX_BODY_BYTES + 10)
    big = push_bearer(token, {"signals": [reading(1, message_id="m-big", pad=padding)]})
    assert (big.status_code, big.json()["code"]) == (413, "too_large")
    many = push_bearer(token, {"signals": [reading(n) for n in range(501)]})
    assert (many.status_code, many.json()["code"]) == (413, "too_many_signals")
    assert not Signal.objects.exists()


def test_a_batch_of_100_readings_costs_a_bounded_number_of_queries(
    smoke: Device, token: str, django_assert_max_num_queries: Any
) -> None:
    push_bearer(token, {"signals": [{"type": "heartbeat"}]})  # online: the batch below touches nothing
    with django_assert_max_num_queries(8):
        response = push_bearer(token, {"signals": [reading(n) for n in range(100)]})
    assert response.json()["accepted"] == 100
    assert Signal.objects.count() == 100
