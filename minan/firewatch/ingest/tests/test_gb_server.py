"""The GB/T 26875.3 TCP server over real sockets: byte-exact replies to the reference frames,
deny and recovery, split and merged frames, garbage, alarms through the Recorder, idempotent
retransmission, liveness, commands down (clock sync, 查岗), idle timeout, database failure."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import time
from typing import Any

import pytest
from django.utils import timezone

from minan.firewatch.alarms import services as alarm_services
from minan.firewatch.ingest import gb26875 as gb
from minan.firewatch.ingest import gb_server
from minan.firewatch.ingest.gb_client import GbDevice
from minan.firewatch.ingest.recorder import Recorder
from minan.firewatch.models import Alarm, Device, Signal
from minan.firewatch.simulator.gb_devices import run_gb_devices
from minan.hazards.models import Hazard

from .test_gb26875 import (
    CENTRE,
    CENTRE_TIME,
    CONFIRM,
    DENY,
    DEVICE,
    FIRE,
    POWER,
    READ_STATUS,
    READ_STATUS_ANSWER,
    SAMPLES,
    TABLE,
)

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10.0
ZONE10_POINT2 = 10 | 2 << 16  # the reference fire frame's component address as a raw uint32


class Raw:
    """A bare TCP client that reads the server's frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = gb.StreamDecoder()
        self.frames: list[gb.Frame] = []

    @classmethod
    async def open(cls, port: int) -> Raw:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def next(self, commands: tuple[int, ...] = (3, 6)) -> gb.Frame:
        """The next frame with one of these commands (others, e.g. the clock sync, are kept aside)."""

        async def read() -> gb.Frame:
            while True:
                for i, frame in enumerate(self.frames):
                    if frame.command in commands:
                        return self.frames.pop(i)
                data = await self.reader.read(4096)
                if not data:
                    raise ConnectionError("closed by the server")
                self.frames += [f for f in self.decoder.feed(data) if isinstance(f, gb.Frame)]

        return await asyncio.wait_for(read(), TIMEOUT)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def run(scenario: Callable[[int, gb_server.GbServer], Awaitable[None]], **options: Any) -> gb_server.GbServer:
    """Start the server on a free port with the centre clock fixed at CENTRE_TIME, run the scenario."""
    holder: list[gb_server.GbServer] = []

    async def main() -> None:
        stop = asyncio.Event()
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        options.setdefault("now", lambda: CENTRE_TIME)
        options.setdefault("batch_wait", 0)
        task = asyncio.create_task(
            gb_server.serve(
                "127.0.0.1:0", stop, on_ready=ready.set_result, on_server=holder.append, **options
            )
        )
        port = await asyncio.wait_for(asyncio.shield(ready), TIMEOUT)
        try:
            await asyncio.wait_for(scenario(port, holder[0]), 30)
        finally:
            stop.set()
            await asyncio.wait_for(task, TIMEOUT)

    asyncio.run(main())
    return holder[0]


@pytest.fixture
def devices(institutions: dict[str, Any]) -> dict[str, Device]:
    home = institutions["rc_elderly"]

    def make(serial: str, type: str, component: str, **kw: Any) -> Device:
        return Device.objects.create(institution=home, region_path=home.region_path, type=type, name=serial,
                                     protocol="gb26875", serial=serial, gb_address=DEVICE, gb_component=component,
                                     **kw)  # fmt: skip

    transmitter = make("T-889", "transmitter", "")
    panel = make("P-889", "panel", "1:1")
    smoke = make("S-889", "smoke", f"1:1:{ZONE10_POINT2}", panel=panel)
    return {"transmitter": transmitter, "panel": panel, "smoke": smoke}


def test_reference_frames_get_byte_exact_confirms(devices: dict[str, Device]) -> None:
    uploads = [FIRE, POWER] + [SAMPLES[name] for name, row in TABLE.items() if row[0][12:18] == FIRE[12:18]]
    answers = [SAMPLES["version_answer"], SAMPLES["time_answer"], READ_STATUS_ANSWER]

    async def scenario(port: int, server: gb_server.GbServer) -> None:
        raw = await Raw.open(port)
        for frame in uploads:
            if gb.Frame.decode(frame).command == 5:
                continue
            await raw.write(frame)
            assert (await raw.next()).encode() == CONFIRM
        # the first frame of the address made the centre sync the device's clock (type 90, serial 0)
        sync = await raw.next((1,))
        assert (
            sync.encode()
            == gb.time_sync(serial=0, now=CENTRE_TIME, source=CENTRE, destination=DEVICE).encode()
        )
        # answers (command 5) are recorded, not confirmed: the next reply is the heartbeat's
        for frame in answers:
            await raw.write(frame)
        await raw.write(gb.heartbeat_frame(7, DEVICE, CENTRE, CENTRE_TIME).encode())
        assert (await raw.next()).serial == 7
        # commands only the centre sends are denied
        await raw.write(READ_STATUS)
        reply = await raw.next()
        assert (reply.command, reply.serial, reply.destination) == (6, 1, CENTRE)
        await raw.close()

    server = run(scenario)
    assert server.stats.confirms == len([f for f in uploads if f[26] == 2]) + 1
    assert Signal.objects.filter(code="duty_check_answer").count() == 1  # the 查岗应答 sample
    assert Alarm.objects.get(device=devices["smoke"]).kind == "fire"


def test_bad_checksum_is_denied_and_the_connection_stays_usable(
    devices: dict[str, Device], caplog: pytest.LogCaptureFixture
) -> None:
    bad = bytearray(FIRE)
    bad[-3] ^= 0xFF

    async def scenario(port: int, server: gb_server.GbServer) -> None:
        raw = await Raw.open(port)
        await raw.write(bytes(bad))
        assert (await raw.next()).encode() == DENY
        await raw.write(FIRE)
        assert (await raw.next()).encode() == CONFIRM
        await raw.close()

    with caplog.at_level(logging.INFO, logger="minan.ingest.gb"):
        server = run(scenario)
    assert server.stats.denies == 1
    assert any("checksum" in r.getMessage() for r in caplog.records if r.name == "minan.ingest.gb")
    assert Alarm.objects.filter(device=devices["smoke"], kind="fire").count() == 1


def test_split_and_merged_frames(devices: dict[str, Device]) -> None:
    heartbeat = gb.heartbeat_frame(2, DEVICE, CENTRE, CENTRE_TIME).encode()

    async def scenario(port: int, server: gb_server.GbServer) -> None:
        raw = await Raw.open(port)
        for part in (FIRE[:5], FIRE[5:40], FIRE[40:]):  # one frame over three writes
            await raw.write(part)
            await asyncio.sleep(0.02)  # separate TCP segments (not a synchronisation: replies are awaited)
        assert (await raw.next()).encode() == CONFIRM
        await raw.write(heartbeat + POWER)  # two frames in one write
        first, second = await raw.next(), await raw.next()
        assert [first.serial, second.serial] == [2, 1]
        assert second.encode() == CONFIRM
        await raw.close()

    run(scenario)
    assert Signal.objects.filter(device=devices["transmitter"], code="power_fault").count() == 1


def test_fire_alarm_is_raised_once_and_a_retransmission_is_not_stored_again(
    devices: dict[str, Device],
) -> None:
    async def scenario(port: int, server: gb_server.GbServer) -> None:
        raw = await Raw.open(port)
        for _ in range(2):  # the device did not get the first confirm and resends (same serial, same time)
            await raw.write(FIRE)
            assert (await raw.next()).encode() == CONFIRM
        await raw.close()

    run(scenario)
    smoke = devices["smoke"]
    (alarm,) = Alarm.objects.filter(device=smoke)
    assert (alarm.kind, alarm.severity, alarm.count) == ("fire", "critical", 1)
    assert alarm.detail["component_zone"] == 10 and alarm.detail["test"] is True  # bit 0 = 0 in the sample
    # the sample's 2012 clock is far from the server's: the alarm runs on server time
    assert alarm.detail["device_time"] == "2012-09-26T09:58:02+08:00" and alarm.first_at.year > 2012
    (signal,) = Signal.objects.filter(device=smoke)
    assert (signal.type, signal.code, signal.value) == ("alarm", "fire", "fire")
    assert signal.message_id is not None and signal.message_id.startswith(f"gb:{DEVICE}:2:1:20120926T095832:")
    assert not Alarm.objects.exclude(device=smoke).exists()


def test_heartbeat_marks_the_transmission_device_online(devices: dict[str, Device]) -> None:
    async def scenario(port: int, server: gb_server.GbServer) -> None:
        async with GbDevice("127.0.0.1", port, DEVICE, centre=CENTRE) as device:
            reply = await device.heartbeat()
            assert (reply.command, reply.serial, reply.source, reply.destination) == (3, 0, CENTRE, DEVICE)
            assert (await device.wait_command(90)).destination == DEVICE  # clock sync after the first frame

    run(scenario)
    transmitter = Device.objects.get(pk=devices["transmitter"].pk)
    assert transmitter.status == "online" and transmitter.last_signal_at is not None
    assert Device.objects.get(pk=devices["smoke"].pk).status == "unknown"
    assert not Signal.objects.exists()  # heartbeats are liveness, not history


def test_garbage_does_not_close_the_connection(devices: dict[str, Device]) -> None:
    oversized = b"@@" + bytes(22) + (0xFFFF).to_bytes(2, "little") + b"\x02"  # L > 1024

    async def scenario(port: int, server: gb_server.GbServer) -> None:
        raw = await Raw.open(port)
        await raw.write(b"\x00\xff garbage @ ## \r\n" * 50)
        await raw.write(oversized)
        reply = await raw.next()
        assert reply.command == 6  # denied with the received (zero) serial
        await raw.write(FIRE)
        assert (await raw.next()).encode() == CONFIRM
        await raw.close()

    server = run(scenario)
    assert server.stats.garbage >= 1 and server.stats.open == 0


def test_unknown_address_is_denied_and_not_recorded(devices: dict[str, Device]) -> None:
    # Frames of unknown addresses are denied by default (test_unregistered_senders.py has the rest).
    async def scenario(port: int, server: gb_server.GbServer) -> None:
        async with GbDevice("127.0.0.1", port, 424242, centre=CENTRE) as device:
            assert (await device.fire(1, 1, 5)).command == 6
            assert (await device.heartbeat()).command == 6

    server = run(scenario)
    assert server.stats.unknown_senders == 2
    assert not Signal.objects.exists() and not Alarm.objects.exists()


def test_component_falls_back_to_its_panel_and_restore_clears(devices: dict[str, Device]) -> None:
    async def scenario(port: int, server: gb_server.GbServer) -> None:
        async with GbDevice("127.0.0.1", port, DEVICE, centre=CENTRE) as device:
            assert (await device.fire(1, 1, 77)).command == 3  # component 77 is not registered
            assert (await device.restore(1, 1)).command == 3

    run(scenario)
    (alarm,) = Alarm.objects.all()
    assert (alarm.device_id, alarm.kind) == (devices["panel"].pk, "fire")
    assert alarm.cleared_at is not None


def test_duty_check_on_demand_and_its_answer(devices: dict[str, Device]) -> None:
    async def scenario(port: int, server: gb_server.GbServer) -> None:
        async with GbDevice("127.0.0.1", port, DEVICE, centre=CENTRE) as device:
            await device.heartbeat()
            assert server.connected == [DEVICE]
            assert await server.send_duty_check(DEVICE) is True
            check = await device.wait_command(91)
            expected = gb.duty_check(serial=check.serial, now=CENTRE_TIME, source=CENTRE, destination=DEVICE)
            assert check.encode() == expected.encode()
            assert (await device.duty_answer(operator=3)).command == 3
        assert await server.send_duty_check(999) is False  # not connected

    run(scenario)
    sent, answer = Signal.objects.filter(device=devices["transmitter"]).order_by("received_at", "id")
    assert (sent.type, sent.code, sent.value) == ("event", "duty_check_sent", "")
    assert abs(sent.at - timezone.now()) < dt.timedelta(
        minutes=1
    )  # the server's time, not the centre clock's
    assert (answer.type, answer.code) == ("event", "duty_check_answer")
    # Judged once its window has passed: answered, no finding.
    assert alarm_services.unanswered_duty_checks(timezone.now() + dt.timedelta(minutes=9)) == 0
    assert Signal.objects.get(pk=sent.pk).value == ""  # not yet judged
    assert alarm_services.unanswered_duty_checks(timezone.now() + dt.timedelta(minutes=11)) == 0
    assert Signal.objects.get(pk=sent.pk).value == "answered" and not Hazard.objects.exists()


def test_an_unanswered_duty_check_is_one_finding_at_a_time(devices: dict[str, Device]) -> None:
    async def scenario(port: int, server: gb_server.GbServer) -> None:
        async with GbDevice("127.0.0.1", port, DEVICE, centre=CENTRE) as device:
            await device.heartbeat()
            for _n in range(2):  # two checks nobody answers
                assert await server.send_duty_check(DEVICE) is True
                await device.wait_command(91)

    run(scenario)
    first, second = Signal.objects.filter(code="duty_check_sent").order_by("received_at", "id")
    later = timezone.now() + dt.timedelta(minutes=11)
    assert alarm_services.unanswered_duty_checks(later) == 2
    assert set(Signal.objects.filter(code="duty_check_sent").values_list("value", flat=True)) == {
        "unanswered"
    }
    (hazard,) = Hazard.objects.all()  # the second miss while the first finding is open: marked only
    transmitter = devices["transmitter"]
    assert (hazard.institution_id, hazard.source, hazard.category, hazard.level, hazard.source_ref) == (
        transmitter.institution_id, "alarm", "fire", "general", f"dutycheck:{first.pk}",
    )  # fmt: skip
    assert "查岗" in hazard.description and transmitter.serial in hazard.description
    assert hazard.found_by.username == "minan-monitor"
    assert alarm_services.unanswered_duty_checks(later) == 0  # judged once


def test_periodic_duty_check(devices: dict[str, Device]) -> None:
    async def scenario(port: int, server: gb_server.GbServer) -> None:
        async with GbDevice("127.0.0.1", port, DEVICE, centre=CENTRE) as device:
            await device.heartbeat()
            await device.wait_command(91)

    run(scenario, duty_check_seconds=0.05)


def test_malformed_adu_is_confirmed_and_recorded_as_an_event(devices: dict[str, Device]) -> None:
    frame = gb.Frame(3, 1, 1, CENTRE_TIME, DEVICE, CENTRE, 2, bytes.fromhex("0203") + bytes(10))

    async def scenario(port: int, server: gb_server.GbServer) -> None:
        async with GbDevice("127.0.0.1", port, DEVICE, centre=CENTRE) as device:
            assert (await device.send(frame)).command == 3

    run(scenario)
    (signal,) = Signal.objects.all()
    assert (signal.device_id, signal.type, signal.code) == (devices["transmitter"].pk, "event", "malformed")


def test_idle_connection_is_closed() -> None:
    async def scenario(port: int, server: gb_server.GbServer) -> None:
        raw = await Raw.open(port)
        assert await asyncio.wait_for(raw.reader.read(100), TIMEOUT) == b""  # closed by the server
        assert server.stats.idle_closed == 1

    run(scenario, idle_timeout=0.2)


class FailingRecorder(Recorder):
    def record(self, items: Any, *, now: Any = None, urgent_first: bool = False) -> Any:
        raise RuntimeError("database is down")


def test_nothing_is_confirmed_when_recording_fails(
    devices: dict[str, Device], caplog: pytest.LogCaptureFixture
) -> None:
    bad = bytearray(FIRE)
    bad[-3] ^= 1

    async def scenario(port: int, server: gb_server.GbServer) -> None:
        raw = await Raw.open(port)
        await raw.write(FIRE)
        with pytest.raises(TimeoutError):  # no confirm: the device will retransmit
            await asyncio.wait_for(raw.next(), 0.5)
        await raw.write(bytes(bad))  # the connection is still served
        assert (await raw.next()).encode() == DENY
        await raw.close()

    with caplog.at_level(logging.ERROR, logger="minan.ingest.gb"):
        server = run(scenario, recorder_factory=FailingRecorder)
    assert server.stats.db_errors >= 1 and server.stats.confirms == 0
    assert any("not confirmed" in r.getMessage() for r in caplog.records)
    assert not Alarm.objects.exists()


def test_simulator_against_the_server(devices: dict[str, Device]) -> None:
    home = devices["panel"].institution
    Device.objects.create(institution=home, region_path=home.region_path, type="transmitter", name="T-890",
                          protocol="gb26875", serial="T-890", gb_address=890)  # fmt: skip
    sims = [
        {"address": DEVICE, "component": "", "kind": "transmitter"},
        {"address": DEVICE, "component": f"1:1:{ZONE10_POINT2}", "kind": "smoke"},
        {"address": 890, "component": "1:1:5", "kind": "heat"},
    ]

    async def scenario(port: int, server: gb_server.GbServer) -> None:
        counts = await run_gb_devices(sims, "127.0.0.1", port, rate=200, duration=0.5, fire_probability=0.2)
        assert counts["connections"] == 2 and counts["sent"] > 20
        assert counts["confirmed"] == counts["sent"] and counts["denied"] == counts["failed"] == 0

    run(scenario)
    assert Signal.objects.filter(type="alarm", code="fire").exists()


def test_simulator_fire_now_sends_one_fire_at_once(devices: dict[str, Device]) -> None:
    sims = [
        {"address": DEVICE, "component": "", "kind": "transmitter"},
        {"address": DEVICE, "component": f"1:1:{ZONE10_POINT2}", "kind": "smoke"},
    ]

    async def scenario(port: int, server: gb_server.GbServer) -> None:
        counts = await run_gb_devices(sims, "127.0.0.1", port, rate=100, duration=0.3, fire_probability=0.0,
                                      fire_now=True)  # fmt: skip
        assert counts["sent"] > 5 and counts["confirmed"] == counts["sent"]

    run(scenario)
    # Without any probability of fire, exactly the one asked for, from the smoke detector.
    fire = Signal.objects.get(type="alarm", code="fire")
    assert fire.device.gb_component == f"1:1:{ZONE10_POINT2}"
    assert Alarm.objects.get(kind="fire").device_id == fire.device_id


def test_random_night_checks_only_at_night_and_about_as_often_as_asked(devices: dict[str, Device]) -> None:
    assert gb_server.parse_night("22:00-06:00") == (time(22), time(6))
    assert gb_server.night_minutes(gb_server.parse_night("22:00-06:00")) == 480
    assert gb_server.in_night(time(23, 30), (time(22), time(6))) and gb_server.in_night(
        time(5, 59), (time(22), time(6))
    )
    assert not gb_server.in_night(time(6), (time(22), time(6))) and not gb_server.in_night(
        time(12), (time(22), time(6))
    )
    with pytest.raises(ValueError):
        gb_server.parse_night("22-6")

    clock = {"now": CENTRE_TIME.replace(hour=12)}

    async def scenario(port: int, server: gb_server.GbServer) -> None:
        async with GbDevice("127.0.0.1", port, DEVICE, centre=CENTRE) as device:
            await device.heartbeat()
            assert server.night_round() == []  # noon: never
            clock["now"] = CENTRE_TIME.replace(hour=2)
            # 480 checks a night over 480 minutes: every minute, so this round checks the device.
            server.night_checks = 480
            assert server.night_round() == [DEVICE]
            await device.wait_command(91)
            # Two a night: about one round in 240 (a seeded draw, counted over a simulated night).
            server.night_checks, server._rng = 2, random.Random(1)
            server.send_duty_check = _no_send  # type: ignore[method-assign]
            assert 0 < sum(len(server.night_round()) for _minute in range(480)) <= 6

    run(scenario, now=lambda: clock["now"], night_checks=0)
    assert Signal.objects.filter(code="duty_check_sent").count() == 1


async def _no_send(address: int) -> bool:
    return True
