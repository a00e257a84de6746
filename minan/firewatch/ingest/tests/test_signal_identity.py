"""Signals without a message id: a fire alarm delivered again — by a broker restored
after a restart or crash, by a device resending — is recognised by device, type, code and the device's
time, so it is stored once and counts no phantom repeat, and after the alarm was cleared it does not open
a new one."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from minan.firewatch.ingest.mqtt import to_incoming
from minan.firewatch.ingest.recorder import BadSignal, Recorder, parse_signal
from minan.firewatch.ingest.services import SignalIn, identity, record_signals
from minan.firewatch.models import Alarm, AlarmEvent, Device, Signal

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.UTC)
TOPIC = "minan/v1/devices/S-1/signals"


def sec(n: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=n)


@pytest.fixture
def smoke(institutions: dict[str, Any]) -> Device:
    home = institutions["rc_elderly"]
    return Device.objects.create(institution=home, region_path=home.region_path, type="smoke", name="3F 走廊烟感",
                                 protocol="mqtt", serial="S-1", heartbeat_seconds=60, grace_seconds=30)  # fmt: skip


def fresh(device: Device) -> Device:
    return Device.objects.get(pk=device.pk)


def fire(at: dt.datetime | None) -> SignalIn:
    return SignalIn("alarm", "fire", at=at)  # no message id


def actions(alarm: Alarm) -> list[str]:
    return list(AlarmEvent.objects.filter(alarm=alarm).order_by("pk").values_list("action", flat=True))


def test_a_fire_alarm_without_id_delivered_twice_in_one_batch_and_again_later_is_one_alarm_once(
    smoke: Device,
) -> None:
    first, again = record_signals([(smoke, fire(sec(0))), (smoke, fire(sec(0)))], now=sec(1))
    assert (first.stored, first.raised, again.stored, again.duplicate, again.alarm) == (
        True,
        True,
        False,
        True,
        None,
    )
    later = record_signals([(fresh(smoke), fire(sec(0)))], now=sec(30))[0]  # another batch: redelivered
    assert (later.stored, later.duplicate, later.alarm, later.raised) == (False, True, None, False)
    alarm = Alarm.objects.get(device=smoke, kind="fire")
    assert (alarm.count, alarm.first_at, alarm.last_at) == (1, sec(0), sec(0))  # no phantom repeat
    assert actions(alarm) == ["raised", "escalated"]
    assert Signal.objects.filter(device=smoke, type="alarm").count() == 1


def test_a_redelivered_fire_alarm_after_its_alarm_was_cleared_opens_no_new_alarm(smoke: Device) -> None:
    record_signals([(smoke, fire(sec(0)))], now=sec(1))
    record_signals([(fresh(smoke), SignalIn("restore", "fire", at=sec(60)))], now=sec(61))
    assert Alarm.objects.get(device=smoke).cleared_at == sec(61)
    # The broker restored an old persistence file and delivers the fire alarm again, minutes later (the
    # device's time is now more than 5 minutes off the server's, which replaces it for `at`).
    again = record_signals([(fresh(smoke), fire(sec(0)))], now=sec(600))[0]
    assert (again.stored, again.duplicate, again.alarm) == (False, True, None)
    assert Alarm.objects.filter(device=smoke).count() == 1
    assert Signal.objects.filter(device=smoke, type="alarm").count() == 1


def test_a_new_trigger_with_another_device_time_is_a_repeat(smoke: Device) -> None:
    record_signals([(smoke, fire(sec(0)))], now=sec(1))
    repeat = record_signals([(fresh(smoke), fire(sec(5)))], now=sec(6))[0]
    assert (repeat.stored, repeat.raised) == (True, False)
    alarm = Alarm.objects.get(device=smoke, kind="fire")
    assert (alarm.count, alarm.last_at) == (2, sec(5))
    assert actions(alarm) == ["raised", "escalated", "repeated"]


def test_without_id_and_without_device_time_nothing_tells_a_redelivery_so_each_is_stored(
    smoke: Device,
) -> None:
    record_signals([(smoke, fire(None))], now=sec(1))
    record_signals([(fresh(smoke), fire(None))], now=sec(2))
    assert Signal.objects.filter(device=smoke, type="alarm").count() == 2
    assert Alarm.objects.get(device=smoke, kind="fire").count == 2


def test_the_identity_is_the_message_id_else_device_type_code_and_device_time(
    smoke: Device, institutions: dict[str, Any]
) -> None:
    other = Device.objects.create(institution=smoke.institution, region_path=smoke.region_path, type="smoke",
                                  name="4F", protocol="mqtt", serial="S-2", heartbeat_seconds=60, grace_seconds=30)  # fmt: skip
    assert identity(smoke, SignalIn("alarm", "fire", at=sec(0), message_id="m-1")) == "m-1"
    assert identity(smoke, fire(sec(0))) == f"~{smoke.pk}:alarm:fire:20261120T020000.000000Z"
    shanghai = dt.timezone(dt.timedelta(hours=8))
    assert identity(smoke, fire(sec(0).astimezone(shanghai))) == identity(smoke, fire(sec(0)))
    assert identity(smoke, fire(None)) is None
    # The same time on two devices, or two kinds on one device, are different signals.
    outcomes = record_signals(
        [(smoke, fire(sec(0))), (other, fire(sec(0))), (smoke, SignalIn("fault", "power", at=sec(0)))],
        now=sec(1),
    )
    assert [o.stored for o in outcomes] == [True, True, True]


def test_the_same_mqtt_payload_without_id_received_twice_is_recorded_once(smoke: Device) -> None:
    payload = json.dumps({"type": "alarm", "code": "fire", "timestamp": sec(0).isoformat()}).encode()
    recorder = Recorder()
    first = recorder.record([to_incoming(TOPIC, payload)], now=sec(1))[0]
    second = Recorder().record([to_incoming(TOPIC, payload)], now=sec(20))[0]  # a new ingest process
    assert first.outcome is not None and second.outcome is not None
    assert (first.error, first.outcome.raised) == ("", True)
    assert (second.error, second.outcome.duplicate, second.outcome.alarm) == ("", True, None)
    assert Alarm.objects.get(device=smoke, kind="fire").count == 1
    assert Signal.objects.filter(device=smoke).count() == 1


def test_a_device_cannot_send_an_id_in_the_reserved_form() -> None:
    # "~device:type:code:time" is how MinAn names a signal that came without an id: a device that sent one
    # could make another device's later signal look like a duplicate.
    with pytest.raises(BadSignal, match="reserved") as refused:
        parse_signal(
            {"type": "alarm", "code": "fire", "message_id": "~12:alarm:fire:2026-12-07T06:00:00+00:00"}
        )
    assert refused.value.field == "message_id"
    assert parse_signal({"type": "alarm", "code": "fire", "message_id": "a~b"}).message_id == "a~b"


def test_two_devices_may_use_the_same_message_id(institutions: dict[str, Any]) -> None:
    # Message ids are unique per device: another device's "1" is not a repeat of this one's.
    home = institutions["rc_elderly"]
    a, b = (
        Device.objects.create(
            institution=home, region_path=home.region_path, type="smoke", name=n, serial=n, protocol="mqtt"
        )  # fmt: skip
        for n in ("SMOKE-A", "SMOKE-B")
    )
    fire = SignalIn(type="alarm", code="fire", message_id="1")
    first = record_signals([(a, fire), (b, SignalIn(type="alarm", code="fire", message_id="1"))])
    assert [o.stored for o in first] == [True, True]
    again = record_signals([(b, SignalIn(type="alarm", code="fire", message_id="1"))])
    assert again[0].duplicate
    assert sorted(Alarm.objects.values_list("device__serial", flat=True)) == ["SMOKE-A", "SMOKE-B"]
    assert Signal.objects.filter(message_id="1").count() == 2
