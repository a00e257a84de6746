"""Tests for the GB/T 26875.3 codec against the published reference frames."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from minan.firewatch.ingest.gb26875 import (
    DEVICE_TZ,
    MAX_FRAME,
    AnalogValue,
    ComponentStatus,
    DeviceOperation,
    DeviceSoftwareVersion,
    DeviceStatus,
    DeviceTime,
    Frame,
    FrameError,
    StreamDecoder,
    SystemStatus,
    checksum,
    confirm,
    decode_time,
    deny,
    duty_check,
    encode_time,
    initialise,
    parse_adu,
    read_request,
    time_sync,
    to_signals,
)

DEVICE = 889
CENTRE = 88888
HEADER_TIME = datetime(2012, 9, 26, 9, 58, 32, tzinfo=DEVICE_TZ)
EVENT_TIME = datetime(2012, 9, 26, 9, 58, 2, tzinfo=DEVICE_TZ)
CENTRE_TIME = datetime(2012, 9, 26, 9, 58, 35, tzinfo=DEVICE_TZ)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace("\n", " "))


FIRE = h(
    "40 40 01 00 01 01 20 3A 09 1A 09 0C 79 03 00 00 00 00 38 5B 01 00 00 00 30 00 02 "
    "02 01 01 01 28 0A 00 02 00 02 00 " + "20 " * 30 + "00 02 3A 09 1A 09 0C 46 23 23"
)
CONFIRM = h("40 40 01 00 01 01 23 3A 09 1A 09 0C 38 5B 01 00 00 00 79 03 00 00 00 00 00 00 03 AB 23 23")
DENY = CONFIRM[:26] + b"\x06\xae##"
POWER = h(
    "40 40 01 00 01 01 20 3A 09 1A 09 0C 79 03 00 00 00 00 38 5B 01 00 00 00 09 00 02 "
    "15 01 08 02 3A 09 1A 09 0C 42 23 23"
)
READ_STATUS = h(
    "40 40 01 00 01 01 20 3A 09 1A 09 0C 38 5B 01 00 00 00 79 03 00 00 00 00 03 00 04 51 01 00 FE 23 23"
)
READ_STATUS_ANSWER = POWER[:26] + h("05 15 01 08 02 3A 09 1A 09 0C 45 23 23")

UP_HEADER = h("40 40 01 00 01 01 20 3A 09 1A 09 0C 79 03 00 00 00 00 38 5B 01 00 00 00")
DOWN_HEADER = h("40 40 01 00 01 01 20 3A 09 1A 09 0C 38 5B 01 00 00 00 79 03 00 00 00 00")


def build(header: bytes, command: int, adu: str, check: str) -> bytes:
    body = h(adu)
    return header + len(body).to_bytes(2, "little") + bytes((command,)) + body + h(check) + b"##"


# (direction header, command, ADU, checksum) from the reference table
TABLE = {
    "duty_answer": (UP_HEADER, 2, "18 01 20 01 02 3A 09 1A 09 0C", "5F"),
    "device_version": (UP_HEADER, 2, "19 01 01 01", "C7"),
    "device_time": (UP_HEADER, 2, "1C 01 02 3A 09 1A 09 0C", "40"),
    "read_version": (DOWN_HEADER, 4, "55 01 00", "02"),
    "version_answer": (UP_HEADER, 5, "19 01 01 01", "CA"),
    "read_time": (DOWN_HEADER, 4, "58 01 00", "05"),
    "time_answer": (UP_HEADER, 5, "1C 01 02 3A 09 1A 09 0C", "43"),
    "initialise": (DOWN_HEADER, 1, "59 01 00", "03"),
    "clock_sync_time": (DOWN_HEADER, 1, "5A 01 02 3A 09 1A 09 0C", "7D"),
    "duty_check_window": (DOWN_HEADER, 1, "5B 01 0A", "0F"),
}
SAMPLES = {
    "fire": FIRE,
    "confirm": CONFIRM,
    "deny": DENY,
    "power": POWER,
    "read_status": READ_STATUS,
    "read_status_answer": READ_STATUS_ANSWER,
    **{name: build(*row) for name, row in TABLE.items()},
}


# --- reference frames -------------------------------------------------------------------------


def test_fire_alarm_reference_frame() -> None:
    assert len(FIRE) == 78
    frame = Frame.decode(FIRE)
    assert (frame.serial, frame.main_version, frame.user_version) == (1, 1, 1)
    assert frame.sent_at == HEADER_TIME
    assert (frame.source, frame.destination, frame.command, len(frame.adu)) == (DEVICE, CENTRE, 2, 48)
    typed = parse_adu(frame.adu)
    assert typed.type_code == 2
    (obj,) = typed.objects
    assert isinstance(obj, ComponentStatus)
    assert (obj.system_type, obj.system_address, obj.component_type) == (1, 1, 40)
    assert (obj.address.zone, obj.address.point, obj.address.raw) == (10, 2, 0x0002000A)
    assert obj.status == 2
    assert obj.flags == {"fire"}
    assert obj.description == ""
    assert obj.time == EVENT_TIME

    (signal,) = to_signals(frame)
    assert signal["type"] == "alarm"
    assert signal["code"] == "fire"
    assert signal["severity"] == "critical"
    assert signal["test"] is True  # bit 0 = 0, recorded but the fire bit is kept
    assert signal["timestamp"] == EVENT_TIME
    assert signal["device_address"] == DEVICE
    assert (signal["system_type"], signal["system_address"], signal["component_type"]) == (1, 1, 40)
    assert (signal["component_zone"], signal["component_point"]) == (10, 2)


def test_confirm_and_deny_are_byte_exact() -> None:
    frame = Frame.decode(FIRE)
    assert confirm(frame, CENTRE_TIME).encode() == CONFIRM
    assert confirm(frame, CENTRE_TIME, CENTRE).encode() == CONFIRM
    assert deny(frame, CENTRE_TIME, CENTRE).encode() == DENY
    assert checksum(DENY) == 0xAE
    # an aware time in another zone is converted to the device clock (Asia/Shanghai)
    assert confirm(frame, CENTRE_TIME.astimezone(UTC)).encode() == CONFIRM
    reply = Frame.decode(CONFIRM)
    assert (reply.serial, reply.source, reply.destination, reply.command, reply.adu) == (
        1,
        CENTRE,
        DEVICE,
        3,
        b"",
    )
    assert to_signals(reply) == []


def test_main_power_fault_reference_frame() -> None:
    assert len(POWER) == 39
    frame = Frame.decode(POWER)
    (obj,) = parse_adu(frame.adu).objects
    assert isinstance(obj, DeviceStatus)
    assert obj.flags == {"main_power_fault"}
    assert obj.time == EVENT_TIME
    (signal,) = to_signals(frame)
    assert (signal["type"], signal["code"], signal["value"], signal["severity"]) == (
        "fault",
        "power_fault",
        "main_power",
        "major",
    )
    assert signal["timestamp"] == EVENT_TIME
    assert confirm(frame, CENTRE_TIME).encode() == CONFIRM


def test_read_status_reference_frame_and_builder() -> None:
    assert len(READ_STATUS) == 33
    frame = Frame.decode(READ_STATUS)
    assert (frame.command, frame.source, frame.destination) == (4, CENTRE, DEVICE)
    typed = parse_adu(frame.adu, frame.command)
    assert typed.type_code == 81
    assert typed.objects[0].reserved == 0  # type: ignore[union-attr]
    built = read_request(serial=1, now=HEADER_TIME, source=CENTRE, destination=DEVICE, type_code=81)
    assert built.encode() == READ_STATUS
    answer = Frame.decode(READ_STATUS_ANSWER)
    assert answer.command == 5
    assert answer.encode()[-3] == 0x45
    (signal,) = to_signals(answer)
    assert signal["code"] == "power_fault"


def test_table_samples() -> None:
    duty = Frame.decode(SAMPLES["duty_answer"])
    (op,) = parse_adu(duty.adu).objects
    assert isinstance(op, DeviceOperation)
    assert op.flags == {"duty_check_answer"} and op.operator == 1 and op.time == EVENT_TIME
    (signal,) = to_signals(duty)
    assert (signal["type"], signal["code"], signal["operator"]) == ("event", "duty_check_answer", 1)

    for name in ("device_version", "version_answer"):
        frame = Frame.decode(SAMPLES[name])
        assert parse_adu(frame.adu, frame.command).objects == (DeviceSoftwareVersion(1, 1),)
        assert to_signals(frame) == []
    for name in ("device_time", "time_answer"):
        frame = Frame.decode(SAMPLES[name])
        (t,) = parse_adu(frame.adu, frame.command).objects
        assert isinstance(t, DeviceTime) and t.time == EVENT_TIME

    def down(**kw: int) -> dict[str, object]:
        return {"serial": 1, "now": HEADER_TIME, "source": CENTRE, "destination": DEVICE, **kw}

    assert read_request(**down(type_code=85)).encode() == SAMPLES["read_version"]  # type: ignore[arg-type]
    assert read_request(**down(type_code=88)).encode() == SAMPLES["read_time"]  # type: ignore[arg-type]
    assert initialise(**down()).encode() == SAMPLES["initialise"]  # type: ignore[arg-type]
    assert (
        time_sync(**down(), with_time=True, clock=EVENT_TIME).encode()  # type: ignore[arg-type]
        == SAMPLES["clock_sync_time"]
    )
    assert duty_check(**down(window=0x0A)).encode() == SAMPLES["duty_check_window"]  # type: ignore[arg-type]
    # standard layouts: one reserved byte
    assert time_sync(**down()).adu == b"\x5a\x01\x00"  # type: ignore[arg-type]
    assert duty_check(**down()).adu == b"\x5b\x01\x00"  # type: ignore[arg-type]
    sync = parse_adu(Frame.decode(SAMPLES["clock_sync_time"]).adu, 1)
    assert sync.objects[0].time == EVENT_TIME  # type: ignore[union-attr]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip(name: str) -> None:
    data = SAMPLES[name]
    assert Frame.decode(data).encode() == data


# --- errors -----------------------------------------------------------------------------------


def reason(data: bytes, **kw: frozenset[int]) -> str:
    with pytest.raises(FrameError) as info:
        Frame.decode(data, **kw)
    return info.value.reason


def with_command(command: int) -> bytes:
    frame = Frame.decode(CONFIRM)
    return Frame(1, 1, 1, frame.sent_at, CENTRE, DEVICE, command, b"").encode()


def test_validation_errors() -> None:
    bad_sum = bytearray(FIRE)
    bad_sum[-3] ^= 0xFF
    assert reason(bytes(bad_sum)) == "checksum"
    assert reason(b"xx" + FIRE[2:]) == "start"
    assert reason(FIRE[:-1] + b"$") == "end"
    assert reason(FIRE[:-5]) == "length"
    too_long = bytearray(CONFIRM)
    too_long[24:26] = (1025).to_bytes(2, "little")
    assert reason(bytes(too_long)) == "length"
    assert reason(with_command(7)) == "command"
    assert reason(with_command(0)) == "command"
    assert reason(with_command(200)) == "command"
    assert Frame.decode(with_command(200), allowed_user_commands=frozenset({200})).command == 200
    # the header stays available so the centre can deny with the received serial
    with pytest.raises(FrameError) as info:
        Frame.decode(bytes(bad_sum))
    assert info.value.frame is not None and info.value.frame.serial == 1
    assert deny(info.value.frame, CENTRE_TIME).encode() == DENY


def test_size_check_refuses_mismatched_adu() -> None:
    with pytest.raises(FrameError) as info:
        parse_adu(h("15 02 08 02 3A 09 1A 09 0C"))  # n = 2 but one object
    assert info.value.reason == "adu"
    with pytest.raises(FrameError):
        parse_adu(h("02 17") + bytes(46 * 23))  # n above the maximum of 22
    with pytest.raises(FrameError):
        parse_adu(h("09 01 00"))  # reserved type
    # per the standard the frame itself is valid (confirm it) and becomes a malformed signal
    frame = Frame(1, 1, 1, HEADER_TIME, DEVICE, CENTRE, 2, h("15 02 08 02 3A 09 1A 09 0C"))
    assert Frame.decode(frame.encode()) == frame
    (signal,) = to_signals(frame)
    assert signal["type"] == "malformed"


# --- stream decoding --------------------------------------------------------------------------


def test_stream_bad_checksum_then_good_frame() -> None:
    bad = bytearray(FIRE)
    bad[-3] ^= 0x01
    decoder = StreamDecoder()
    out = decoder.feed(bytes(bad) + POWER)
    assert len(out) == 2
    assert isinstance(out[0], FrameError) and out[0].reason == "checksum"
    assert out[0].frame is not None and out[0].frame.serial == 1
    assert out[1] == Frame.decode(POWER)


def test_stream_split_byte_by_byte() -> None:
    decoder = StreamDecoder()
    out: list[Frame | FrameError] = []
    for i in range(len(FIRE + POWER)):
        out += decoder.feed((FIRE + POWER)[i : i + 1])
    assert out == [Frame.decode(FIRE), Frame.decode(POWER)]
    assert decoder.pending == 0


def test_stream_merged_frames_with_garbage() -> None:
    decoder = StreamDecoder()
    out = decoder.feed(b"\x00junk@" + FIRE + b"@#@x" + POWER + b"garbage@")
    frames = [x for x in out if isinstance(x, Frame)]
    errors = [x for x in out if isinstance(x, FrameError)]
    assert frames == [Frame.decode(FIRE), Frame.decode(POWER)]
    # "junk@" + "@@" forms a false start "@@" one byte early: reported (length), then resynchronised
    assert {e.reason for e in errors} == {"start", "length"}
    assert decoder.pending == 1  # a trailing '@' may start the next frame
    assert decoder.feed(b"@" + CONFIRM[2:]) == [Frame.decode(CONFIRM)]


def test_stream_resynchronises_after_bad_end_and_length() -> None:
    bad_end = FIRE[:-2] + b"xx"
    too_long = bytearray(CONFIRM)
    too_long[24:26] = (2000).to_bytes(2, "little")
    decoder = StreamDecoder()
    out = decoder.feed(bad_end + bytes(too_long) + POWER)
    reasons = [x.reason for x in out if isinstance(x, FrameError) and x.reason != "start"]
    assert reasons == ["end", "length"]
    assert [x for x in out if isinstance(x, Frame)] == [Frame.decode(POWER)]


def test_stream_unrecognised_and_user_commands() -> None:
    out = StreamDecoder().feed(with_command(7) + with_command(200))
    assert [x.reason for x in out if isinstance(x, FrameError)] == ["command", "command"]
    out = StreamDecoder(allowed_user_commands={200}).feed(with_command(7) + with_command(200))
    assert isinstance(out[0], FrameError) and out[0].reason == "command"
    assert isinstance(out[1], Frame) and out[1].command == 200


def test_stream_buffer_is_bounded() -> None:
    decoder = StreamDecoder(slice_size=512)
    for _ in range(200):
        decoder.feed(b"\xaa" * 10_000)
        assert decoder.pending <= decoder.max_buffer
    assert decoder.pending == 0
    # a half frame followed by endless junk: the claimed length is bounded by 1024
    decoder.feed(FIRE[:27])
    for _ in range(50):
        decoder.feed(b"\x55" * 5000)
        assert decoder.pending <= MAX_FRAME + 512
    # the start sequence repeated forever
    out = decoder.feed(b"@" * 100_000)
    assert decoder.pending <= decoder.max_buffer
    assert all(isinstance(x, FrameError) for x in out)
    decoder.reset()
    assert decoder.feed(FIRE) == [Frame.decode(FIRE)]


def test_stream_never_raises_on_random_input() -> None:
    rng = random.Random(26875)
    decoder = StreamDecoder()
    for _ in range(300):
        chunk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        if rng.random() < 0.2:
            chunk += FIRE
        decoder.feed(chunk)
    decoder.reset()
    assert decoder.feed(POWER) == [Frame.decode(POWER)]


# --- ADU types and signals --------------------------------------------------------------------


def upload(adu: bytes) -> Frame:
    return Frame(5, 1, 1, HEADER_TIME, DEVICE, CENTRE, 2, adu)


TAG = h("02 3A 09 1A 09 0C")


def test_heartbeat() -> None:
    frame = Frame.decode(upload(b"").encode())
    assert frame.is_heartbeat
    (signal,) = to_signals(frame)
    assert signal["type"] == "heartbeat"
    assert signal["timestamp"] == HEADER_TIME


def test_system_status_flags_and_signals() -> None:
    status = (1 << 1) | (1 << 2) | (1 << 8) | (1 << 10) | (1 << 0)
    frame = upload(h("01 01 01 03") + status.to_bytes(2, "little") + TAG)
    (obj,) = parse_adu(frame.adu).objects
    assert isinstance(obj, SystemStatus)
    assert obj.flags == {"normal", "fire", "fault", "main_power_fault", "bus_fault"}
    signals = to_signals(frame)
    assert [(s["type"], s["code"], s["value"]) for s in signals] == [
        ("alarm", "fire", "fire"),
        ("fault", "power_fault", "main_power"),
        ("fault", "fault", "fault"),
        ("fault", "fault", "bus"),
    ]
    assert all(s["test"] is False and s["system_address"] == 3 for s in signals)
    reset = to_signals(upload(h("01 01 01 03") + (1 << 13 | 1).to_bytes(2, "little") + TAG))
    assert [(s["type"], s["code"]) for s in reset] == [("restore", "reset")]


def test_analog_values() -> None:
    temp = h("01 01 1E 0A 00 02 00 03") + (235).to_bytes(2, "little", signed=True) + TAG
    cold = h("01 01 1E 0A 00 03 00 03") + (-3000).to_bytes(2, "little", signed=True) + TAG
    frame = upload(h("03 02") + temp + cold)
    a, b = parse_adu(frame.adu).objects
    assert isinstance(a, AnalogValue) and isinstance(b, AnalogValue)
    assert (a.value, a.unit, a.out_of_range) == (Decimal("23.5"), "℃", False)
    assert (b.value, b.out_of_range) == (Decimal("-300.0"), True)
    signals = to_signals(frame)
    assert [(s["type"], s["code"], s["value"], s["unit"]) for s in signals] == [
        ("reading", "temperature", Decimal("23.5"), "℃"),
        ("reading", "temperature", Decimal("-300.0"), "℃"),
    ]
    assert signals[0]["timestamp"] == EVENT_TIME and signals[1]["component_point"] == 3


def test_facility_operation_and_device_status() -> None:
    frame = upload(h("04 02 01 01 04 07") + TAG + h("01 01 09 07") + TAG)
    signals = to_signals(frame)
    assert [(s["type"], s["code"], s.get("value")) for s in signals] == [
        ("alarm", "fire", "manual_alarm"),
        ("restore", "reset", "reset"),
        ("restore", "alarm_cleared", "alarm_cleared"),
    ]
    assert signals[0]["operator"] == 7
    device = to_signals(upload(h("15 01 61") + TAG))  # normal + link fault + monitored line
    assert [(s["code"], s["value"]) for s in device] == [
        ("offline", "link_to_centre"),
        ("fault", "monitored_line"),
    ]


def test_gb18030_description_and_config_types() -> None:
    text = "3层走廊".encode("gb18030")
    desc = text + b" " * (30 - len(text)) + b"\x00"
    frame = upload(h("02 01 01 01 28 0A 00 02 00 01 00") + desc + TAG)
    (obj,) = parse_adu(frame.adu).objects
    assert isinstance(obj, ComponentStatus) and obj.description == "3层走廊"
    cfg = parse_adu(h("06 01 01 02") + bytes((len(text),)) + text)
    assert cfg.objects[0].text == "3层走廊"  # type: ignore[union-attr]
    with pytest.raises(FrameError):
        parse_adu(h("06 01 01 02 05") + text[:2])
    dev_cfg = parse_adu(h("1A 01") + bytes((len(text),)) + text)
    assert dev_cfg.objects[0].text == "3层走廊"  # type: ignore[union-attr]


def test_time_tags() -> None:
    assert decode_time(TAG) == EVENT_TIME
    assert encode_time(EVENT_TIME) == TAG
    assert decode_time(h("00 00 00 00 00 00")) is None  # day 0, month 0
    frame = Frame.decode(upload(b"").encode())
    bad = bytearray(frame.encode())
    bad[6:12] = h("3C 00 00 1F 02 0C")  # second 60, 31 February
    bad[-3] = checksum(bytes(bad))
    decoded = Frame.decode(bytes(bad))
    assert decoded.sent_at is None
    assert decoded.encode() == bytes(bad)
