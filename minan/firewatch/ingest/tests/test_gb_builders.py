"""The upload builders of gb26875 (simulator, benchmark) round-trip through decode, parse_adu and
to_signals; the server's mapping of signals to Recorder input (device keys, message ids, clock skew)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from minan.firewatch.ingest import gb26875 as gb
from minan.firewatch.ingest.gb_server import component_key, message_id, parse_listen, to_incoming

DEVICE, CENTRE = 889, 88888
NOW = datetime(2026, 11, 20, 10, 30, 5, tzinfo=gb.DEVICE_TZ)
EVENT = NOW - timedelta(seconds=3)
COMPONENT = 10 | 2 << 16  # zone 10, point 2


def round_trip(frame: gb.Frame) -> tuple[gb.Frame, list[dict[str, object]]]:
    decoded = gb.Frame.decode(frame.encode())
    assert decoded == frame and decoded.encode() == frame.encode()
    return decoded, gb.to_signals(decoded)


def test_heartbeat_frame() -> None:
    frame, signals = round_trip(gb.heartbeat_frame(4, DEVICE, CENTRE, NOW))
    assert frame.is_heartbeat and len(frame.encode()) == 30
    assert [(s["type"], s["timestamp"]) for s in signals] == [("heartbeat", NOW)]


def test_component_status_frame() -> None:
    built = gb.component_status_frame(
        1, DEVICE, CENTRE, NOW, 1, 1, 40, COMPONENT, {"normal", "fire"}, "3层走廊", at=EVENT
    )
    frame, signals = round_trip(built)
    (obj,) = gb.parse_adu(frame.adu).objects
    assert isinstance(obj, gb.ComponentStatus)
    assert (obj.address.zone, obj.address.point, obj.address.raw, obj.description) == (
        10,
        2,
        COMPONENT,
        "3层走廊",
    )
    assert obj.flags == {"normal", "fire"} and obj.time == EVENT
    (sig,) = signals
    assert (sig["type"], sig["code"], sig["test"], sig["component_address"]) == (
        "alarm",
        "fire",
        False,
        COMPONENT,
    )


def test_reference_fire_frame_from_the_builder() -> None:
    header = datetime(2012, 9, 26, 9, 58, 32, tzinfo=gb.DEVICE_TZ)
    event = datetime(2012, 9, 26, 9, 58, 2, tzinfo=gb.DEVICE_TZ)
    built = gb.component_status_frame(1, DEVICE, CENTRE, header, 1, 1, 40, COMPONENT, {"fire"}, at=event)
    assert built.encode()[-3] == 0x46 and len(built.encode()) == 78  # reference frame 1


def test_system_status_frame() -> None:
    flags = {"normal", "fault", "main_power_fault", "reset"}
    frame, signals = round_trip(gb.system_status_frame(2, DEVICE, CENTRE, NOW, 1, 3, flags))
    (obj,) = gb.parse_adu(frame.adu).objects
    assert isinstance(obj, gb.SystemStatus) and obj.flags == flags and obj.time == NOW
    assert [(s["type"], s["code"]) for s in signals] == [
        ("fault", "power_fault"),
        ("fault", "fault"),
        ("restore", "reset"),
    ]


def test_analog_frame() -> None:
    frame, signals = round_trip(gb.analog_frame(3, DEVICE, CENTRE, NOW, 11, 1, 99, 7, 4, -12))
    (sig,) = signals
    assert (sig["type"], sig["code"], sig["value"], sig["unit"], sig["out_of_range"]) == (
        "reading", "pressure", Decimal("-1.2"), "MPa", True,
    )  # fmt: skip


def test_device_status_and_operation_frames() -> None:
    _f, signals = round_trip(gb.device_status_frame(5, DEVICE, CENTRE, NOW, {"normal", "main_power_fault"}))
    assert [(s["type"], s["code"], s["value"]) for s in signals] == [("fault", "power_fault", "main_power")]
    _f, signals = round_trip(gb.device_operation_frame(6, DEVICE, CENTRE, NOW, {"duty_check_answer"}, 3))
    assert [(s["type"], s["code"], s["operator"]) for s in signals] == [("event", "duty_check_answer", 3)]


def test_builder_validation() -> None:
    with pytest.raises(ValueError, match="unknown flag"):
        gb.system_status_frame(1, DEVICE, CENTRE, NOW, 1, 1, {"smoke"})
    with pytest.raises(ValueError, match="GB 18030"):
        gb.encode_text("很长" * 20)
    assert gb.encode_text("") == b" " * 30 + b"\x00"
    assert len(gb.encode_text("x" * 31)) == 31


def test_to_incoming_keys_message_ids_and_types() -> None:
    frame = gb.Frame.decode(
        gb.component_status_frame(
            9, DEVICE, CENTRE, NOW, 1, 2, 42, COMPONENT, {"normal", "fire", "fault"}
        ).encode()
    )
    fire, fault = to_incoming(frame, received_at=NOW)
    assert fire.key.gb_address == DEVICE and fire.key.gb_component == f"1:2:{COMPONENT}"
    assert (fire.signal.type, fire.signal.code, fire.signal.value, fire.signal.at) == (
        "alarm",
        "fire",
        "fire",
        NOW,
    )
    assert (fault.signal.type, fault.signal.code) == ("fault", "fault")
    assert fire.signal.message_id != fault.signal.message_id
    assert fire.signal.message_id == message_id(frame, 0) and len(fire.signal.message_id) <= 100
    # a retransmission has the same ids; another upload reusing serial and time does not
    assert [i.signal.message_id for i in to_incoming(frame)] == [
        fire.signal.message_id,
        fault.signal.message_id,
    ]
    other = gb.component_status_frame(9, DEVICE, CENTRE, NOW, 1, 2, 42, COMPONENT + 1, {"normal", "fire"})
    assert to_incoming(other)[0].signal.message_id != fire.signal.message_id

    (system,) = to_incoming(gb.system_status_frame(1, DEVICE, CENTRE, NOW, 1, 2, {"normal", "reset"}))
    assert (system.key.gb_component, system.signal.type, system.signal.code) == ("1:2", "restore", "reset")
    (beat,) = to_incoming(gb.heartbeat_frame(1, DEVICE, CENTRE, NOW))
    assert (beat.key.gb_component, beat.signal.type, beat.signal.message_id) == ("", "heartbeat", None)
    (bad,) = to_incoming(gb.Frame(1, 1, 1, NOW, DEVICE, CENTRE, 2, bytes.fromhex("0203") + bytes(4)))
    assert (bad.signal.type, bad.signal.code, bad.signal.extra["raw"]) == (
        "event",
        "malformed",
        "020300000000",
    )
    (reading,) = to_incoming(gb.analog_frame(1, DEVICE, CENTRE, NOW, 11, 1, 99, 7, 4, 5))
    assert (reading.signal.type, reading.signal.value, reading.signal.unit) == ("reading", "0.5", "MPa")


def test_skewed_device_clock_is_not_the_signal_time() -> None:
    frame = gb.device_status_frame(1, DEVICE, CENTRE, NOW, {"fire"}, at=NOW - timedelta(hours=2))
    (sig,) = to_incoming(frame, received_at=NOW, max_skew=300)
    assert sig.signal.at is None and sig.signal.extra["device_time"] == (NOW - timedelta(hours=2)).isoformat()
    (sig,) = to_incoming(frame, received_at=NOW - timedelta(hours=2, minutes=4), max_skew=300)
    assert sig.signal.at == NOW - timedelta(hours=2)


def test_component_key_and_listen() -> None:
    assert component_key({}) == ""
    assert component_key({"system_type": 1, "system_address": 2}) == "1:2"
    assert component_key({"system_type": 1, "system_address": 2, "component_address": 3}) == "1:2:3"
    assert parse_listen("127.0.0.1:9800") == ("127.0.0.1", 9800)
    assert parse_listen(":9800") == (None, 9800)
    assert parse_listen("[::1]:0") == ("::1", 0)
    with pytest.raises(ValueError):
        parse_listen("9800")
